//! Reading a pipeline file: YAML with the line of every node, and the errors a person
//! can act on (the file, the line, what was expected).

use marked_yaml::{LoadError, LoaderOptions, Node, Span};

/// A pipeline file that cannot be read as one: where, and what was expected.
/// (Line 0: the file as a whole, e.g. one that cannot be read.)
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {message}", if *line == 0 { String::new() } else { format!(":{line}") })]
pub struct BadInput {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl BadInput {
    pub fn new(file: &str, line: usize, message: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            line,
            message: message.into(),
        }
    }
}

/// The 1-based line a node starts on (0 when unknown).
pub fn line(span: &Span) -> usize {
    span.start().map_or(0, |m| m.line())
}

/// Parse `text` (the contents of `file`) into its top-level mapping (a key given twice
/// is an error, as it is to GitHub and GitLab).
pub fn parse(file: &str, text: &str) -> Result<Node, BadInput> {
    let options = LoaderOptions::default().error_on_duplicate_keys(true);
    marked_yaml::parse_yaml_with_options(0, text, options).map_err(|e| {
        let at = match &e {
            LoadError::TopLevelMustBeMapping(m)
            | LoadError::TopLevelMustBeSequence(m)
            | LoadError::UnexpectedAnchor(m)
            | LoadError::MappingKeyMustBeScalar(m)
            | LoadError::UnexpectedTag(m)
            | LoadError::ScanError(m, _) => m.line(),
            LoadError::DuplicateKey(d) => line(d.key.span()),
        };
        let what = match &e {
            LoadError::TopLevelMustBeMapping(_) => "expected a mapping at the top level".to_owned(),
            LoadError::DuplicateKey(d) => format!("the key '{}' is given twice", d.key.as_str()),
            other => format!("not valid YAML ({other})"),
        };
        BadInput::new(file, at.max(1), what)
    })
}

/// A scalar's text, if the node is one.
pub fn text(node: &Node) -> Option<&str> {
    node.as_scalar().map(|s| s.as_str())
}

/// The texts of a scalar or a sequence of scalars (`on: push` / `on: [push, tag]`).
pub fn texts(node: &Node) -> Vec<String> {
    match node {
        Node::Scalar(s) => vec![s.as_str().to_owned()],
        Node::Sequence(seq) => seq
            .iter()
            .filter_map(|n| text(n).map(str::to_owned))
            .collect(),
        Node::Mapping(_) => Vec::new(),
    }
}

/// Whether a value is a `${{ … }}` expression the tool cannot evaluate.
pub fn is_expression(value: &str) -> bool {
    value.contains("${{")
}
