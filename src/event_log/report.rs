//! A per-account usage report from the event log in PostgreSQL: MTs and parts accepted in a
//! period, by connector and final state (`PENDING` while not final), and refusals by reason.
//! The SQL is here once; the README shows it.

use tokio_postgres::Client;

use super::sink::SinkError;

/// MTs accepted in [from, to) by connector and final state. `$1` account, `$2` and `$3` any
/// timestamptz PostgreSQL reads (`2026-12-01`, `2026-12-01T10:00:00Z`).
pub const USAGE_SQL: &str = "\
SELECT coalesce(f.connector, a.connector, '')   AS connector,
       coalesce(f.state, 'PENDING')             AS state,
       count(*)                                 AS mts,
       coalesce(sum(a.parts), 0)                AS parts
  FROM smsgw_events a
  LEFT JOIN smsgw_events f ON f.kind = 'final' AND f.message_id = a.message_id
 WHERE a.kind = 'accepted' AND a.account = $1
   AND a.at >= $2::text::timestamptz AND a.at < $3::text::timestamptz
 GROUP BY 1, 2
 ORDER BY 1, 2";

/// MTs refused in [from, to) by reason.
pub const REFUSALS_SQL: &str = "\
SELECT coalesce(code, '') AS reason, count(*) AS mts
  FROM smsgw_events
 WHERE kind = 'refused' AND account = $1
   AND at >= $2::text::timestamptz AND at < $3::text::timestamptz
 GROUP BY 1
 ORDER BY 1";

/// One line of the usage report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UsageRow {
    pub connector: String,
    pub state: String,
    pub mts: i64,
    pub parts: i64,
}

/// The report of one account over a period.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Usage {
    pub account: String,
    pub rows: Vec<UsageRow>,
    pub refused: Vec<(String, i64)>,
}

impl Usage {
    pub fn total_mts(&self) -> i64 {
        self.rows.iter().map(|row| row.mts).sum()
    }

    pub fn total_parts(&self) -> i64 {
        self.rows.iter().map(|row| row.parts).sum()
    }
}

/// Runs the report's queries.
pub async fn usage(
    client: &Client,
    account: &str,
    from: &str,
    to: &str,
) -> Result<Usage, SinkError> {
    let sql_error = SinkError::from_display;
    let rows = client
        .query(USAGE_SQL, &[&account, &from, &to])
        .await
        .map_err(sql_error)?
        .iter()
        .map(|row| UsageRow {
            connector: row.get(0),
            state: row.get(1),
            mts: row.get(2),
            parts: row.get(3),
        })
        .collect();
    let refused = client
        .query(REFUSALS_SQL, &[&account, &from, &to])
        .await
        .map_err(sql_error)?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    Ok(Usage {
        account: account.to_owned(),
        rows,
        refused,
    })
}
