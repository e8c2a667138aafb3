//! How results and failures reach the user: text for people, one JSON document with `--json`,
//! and every failure as exactly one line on stderr (`error: ...`) with a non-zero exit code.
//!
//! Text for people shows stored data (names, domains, emails, titles, audit fields) and paths
//! the user gave: every such string goes through [`text`], so a newline cannot forge a row and
//! an escape sequence cannot drive the terminal. JSON needs nothing: serde_json escapes.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::process::ExitCode;

use clap::error::ErrorKind;

/// Where a command prints its result.
#[derive(Clone, Copy, Debug)]
pub struct Output {
    /// Whether to print one JSON document instead of text.
    pub json: bool,
}

impl Output {
    /// Text or JSON, as the `--json` flag says.
    pub fn new(json: bool) -> Self {
        Output { json }
    }

    /// Prints a command's result: one line of JSON under `--json`, else its text lines.
    pub fn print(&self, result: &impl Render) {
        if self.json {
            println!("{}", result.json());
        } else {
            for line in result.text() {
                println!("{line}");
            }
        }
    }
}

/// A command's result, built once as data by the command, and its two renderings. Commands
/// compute, [`Output::print`] decides which rendering reaches stdout: no command prints.
pub trait Render {
    /// The result for scripts: one JSON document (exact values, nothing escaped by hand).
    fn json(&self) -> serde_json::Value;
    /// The result for people, a line each; stored strings go through [`text`].
    fn text(&self) -> Vec<String>;
}

/// Lower-case hex of `bytes` (digests, raw keys and values).
pub fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// Whether `c` must not reach a terminal as it is: C0 and C1 controls and DEL (newline, ESC,
/// the 8-bit CSI ...), the Unicode line and paragraph separators, and the bidirectional
/// formatting characters, which reorder what is shown after them.
fn unsafe_for_text(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{061c}'
        )
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// `value` made safe to print as text: `\n`, `\r`, `\t` for those, `\u{1b}` (hex) for every
/// other control or formatting character listed in [`unsafe_for_text`]; the rest, backslashes
/// included, as it is (a name typed with a literal `\n` looks like an escaped newline, but
/// cannot break a line). Borrowed when nothing needs escaping.
pub fn text(value: &str) -> Cow<'_, str> {
    if !value.chars().any(unsafe_for_text) {
        return Cow::Borrowed(value);
    }
    let mut escaped = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            '\t' => escaped.push_str("\\t"),
            c if unsafe_for_text(c) => {
                // Writing to a String cannot fail.
                let _ = write!(escaped, "\\u{{{:x}}}", u32::from(c));
            }
            c => escaped.push(c),
        }
    }
    Cow::Owned(escaped)
}

/// [`text`] of a path as shown (lossily for non-UTF-8 names).
pub fn path_text(path: &std::path::Path) -> String {
    text(&path.display().to_string()).into_owned()
}

/// Joins an error and its sources into one line: `outer: inner: innermost`.
pub fn one_line(error: &anyhow::Error) -> String {
    // `{:#}` joins the chain with ": "; a source's own text may still hold a newline.
    format!("{error:#}")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reports a failed command: one line on stderr, exit code 1. Errors quote user input (names,
/// paths), so the line is escaped like any text.
pub fn fail(error: &anyhow::Error) -> ExitCode {
    eprintln!("error: {}", text(&one_line(error)));
    ExitCode::FAILURE
}

/// Reports a command line clap refused. Help and version go to stdout as usual (exit 0);
/// anything else is one line on stderr (clap's own first line) and exit code 2.
pub fn usage_error(error: clap::Error) -> ExitCode {
    match error.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // Printing help can only fail on a closed stdout, and then there is no one to tell.
            let _ = error.print();
            if error.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            }
        }
        _ => {
            let rendered = error.render().to_string();
            let first = rendered
                .lines()
                .find(|line| !line.trim().is_empty())
                .unwrap_or("error: invalid command line");
            let line = if first.starts_with("error:") {
                first.to_owned()
            } else {
                format!("error: {first}")
            };
            eprintln!("{line}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::text;

    #[test]
    fn text_escapes_controls_and_keeps_the_rest() {
        assert_eq!(text("Acme GmbH, Zürich 日本"), "Acme GmbH, Zürich 日本");
        assert_eq!(text("a\nb\r\tc"), r"a\nb\r\tc");
        assert_eq!(text("\x1b[2J\u{9b}\u{7f}\0"), r"\u{1b}[2J\u{9b}\u{7f}\u{0}");
        assert_eq!(
            text("evil\u{202e}txt.exe\u{2028}"),
            r"evil\u{202e}txt.exe\u{2028}"
        );
        assert_eq!(text(r"C:\dir"), r"C:\dir");
    }
}
