//! How results and failures reach the user: text for people, one JSON document with `--json`,
//! and every failure as exactly one line on stderr (`error: ...`) with a non-zero exit code.

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

    /// Prints `value` as one line of JSON (only under `--json`).
    pub fn json(&self, value: &serde_json::Value) {
        println!("{value}");
    }
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

/// Reports a failed command: one line on stderr, exit code 1.
pub fn fail(error: &anyhow::Error) -> ExitCode {
    eprintln!("error: {}", one_line(error));
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
