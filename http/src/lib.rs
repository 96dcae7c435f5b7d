//! HTTP edge of smsgw (filled in by later issues).
