//! Asking the user for a missing username or password, as Micro's `login` and `user set password`
//! do: the prompt goes to stdout, a password is read without echo from the terminal, and when
//! stdin is not a terminal (scripts, tests) the answer is read as a line from stdin.

use std::io::{BufRead, IsTerminal};

use anyhow::{bail, Context, Result};

/// Prints `prompt` and reads one line from stdin, trimmed.
pub fn line(prompt: &str) -> Result<String> {
    crate::output::print(prompt);
    read_line(&mut std::io::stdin().lock())
}

/// Prints `prompt` and reads a password: without echo from a terminal, else a line from stdin.
/// The answer is trimmed, as Micro trims it.
pub fn password(prompt: &str) -> Result<String> {
    crate::output::print(prompt);
    if std::io::stdin().is_terminal() {
        // rpassword ends the prompt's line itself once Enter is pressed.
        let answer = rpassword::read_password().context("failed to read the password")?;
        return Ok(answer.trim().to_owned());
    }
    let answer = read_line(&mut std::io::stdin().lock())?;
    // Nothing was echoed, so end the prompt's line as Micro does.
    crate::output::print("\n");
    Ok(answer)
}

/// Reads one line, trimmed; end of input before any character is an error, so that a script
/// that runs out of answers fails instead of sending empty credentials.
fn read_line(input: &mut impl BufRead) -> Result<String> {
    let mut answer = String::new();
    let read = input
        .read_line(&mut answer)
        .context("failed to read from stdin")?;
    if read == 0 {
        bail!("no input: stdin was closed before an answer was given");
    }
    Ok(answer.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_trimmed_and_end_of_input_is_an_error() {
        let mut input = std::io::Cursor::new("  admin \r\nsecond\n\n");
        assert_eq!(read_line(&mut input).unwrap(), "admin");
        assert_eq!(read_line(&mut input).unwrap(), "second");
        assert_eq!(read_line(&mut input).unwrap(), "");
        assert!(read_line(&mut input).is_err());
    }
}
