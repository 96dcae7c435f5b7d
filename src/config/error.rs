//! Configuration problems with their place in the file: `FILE:LINE:COLUMN: what is wrong`.

use std::fmt;
use std::ops::Range;

/// A line and column in the config file, both counted from 1; the column counts characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The file name as given to [`crate::config::Config::load`] or `from_str_named`.
    pub file: String,
    /// Where in the file; `None` when the problem is the file itself (cannot be read).
    pub position: Option<Position>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(Position { line, column }) => {
                write!(f, "{}:{line}:{column}: {}", self.file, self.message)
            }
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Every problem found in a configuration file, in the order of the file; one per line
/// when displayed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors {
    pub errors: Vec<ConfigError>,
}

impl ConfigErrors {
    /// The problems, in file order.
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.errors.iter()
    }

    /// How many problems there are (at least one).
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// Always false for an error returned by the loader; present for clippy's sake.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.errors.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.iter()
    }
}

/// Gathers problems while a file is checked, turning byte spans into lines and columns.
pub(crate) struct Problems<'a> {
    file: String,
    text: &'a str,
    line_starts: Vec<usize>,
    errors: Vec<(usize, ConfigError)>,
}

impl<'a> Problems<'a> {
    pub(crate) fn new(file: &str, text: &'a str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(offset, _)| offset + 1))
            .collect();
        Self {
            file: file.to_owned(),
            text,
            line_starts,
            errors: Vec::new(),
        }
    }

    /// Records a problem at the start of `span`.
    pub(crate) fn at(&mut self, span: Range<usize>, message: impl Into<String>) {
        let offset = span.start.min(self.text.len());
        let position = self.position(offset);
        self.errors.push((
            offset,
            ConfigError {
                file: self.file.clone(),
                position: Some(position),
                message: message.into(),
            },
        ));
    }

    /// Records a problem from the TOML parser or serde, which may lack a span.
    pub(crate) fn toml(&mut self, error: &toml::de::Error) {
        let message = error.message().trim_end().to_owned();
        self.at(error.span().unwrap_or(0..0), message);
    }

    /// The line of a span, for messages like "first defined at line 3".
    pub(crate) fn line_of(&self, span: &Range<usize>) -> usize {
        self.position(span.start.min(self.text.len())).line
    }

    /// The problems sorted by place in the file, or `Ok` when there are none.
    pub(crate) fn finish(mut self) -> Result<(), ConfigErrors> {
        if self.errors.is_empty() {
            return Ok(());
        }
        // Stable sort: problems at the same place keep the order they were found in.
        self.errors.sort_by_key(|(offset, _)| *offset);
        Err(ConfigErrors {
            errors: self.errors.into_iter().map(|(_, error)| error).collect(),
        })
    }

    fn position(&self, offset: usize) -> Position {
        let line_index = self.line_starts.partition_point(|start| *start <= offset) - 1;
        let line_start = self.line_starts[line_index];
        let column = self
            .text
            .get(line_start..offset)
            .map_or(offset - line_start, |prefix| prefix.chars().count())
            + 1;
        Position {
            line: line_index + 1,
            column,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_lines_and_character_columns() {
        let text = "a = 1\nbé = 2\n\nc";
        let mut problems = Problems::new("f.toml", text);
        problems.at(0..1, "first");
        problems.at(9..10, "after the é"); // byte column 4, character column 3
        problems.at(text.len()..text.len(), "at the end");
        let errors = problems.finish().unwrap_err();
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "f.toml:1:1: first",
                "f.toml:2:3: after the é",
                "f.toml:4:2: at the end"
            ]
        );
    }

    #[test]
    fn errors_display_one_per_line_and_unreadable_file_has_no_position() {
        let errors = ConfigErrors {
            errors: vec![
                ConfigError {
                    file: "x.toml".into(),
                    position: None,
                    message: "cannot read".into(),
                },
                ConfigError {
                    file: "x.toml".into(),
                    position: Some(Position { line: 3, column: 7 }),
                    message: "bad".into(),
                },
            ],
        };
        assert_eq!(errors.to_string(), "x.toml: cannot read\nx.toml:3:7: bad");
    }
}
