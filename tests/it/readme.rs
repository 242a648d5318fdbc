//! The README's examples: every `sh runnable` block runs as written from the top of a clone
//! (with `rootline` on the PATH), and the `text output` block after it is what it prints.
//! `UPDATE_GOLDEN=1 cargo test readme` rewrites the shown outputs from a run.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::temp_dir;

struct Block {
    code: String,
    /// The byte range of the output block's text in the README, when one follows.
    output: Option<std::ops::Range<usize>>,
}

/// The runnable blocks of a Markdown text, each with the output block after it.
fn runnable_blocks(md: &str) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    let mut pos = 0;
    let mut open: Option<(String, usize)> = None; // (info, start of content)
    let mut expect_output = false;
    for line in md.split_inclusive('\n') {
        let start = pos;
        pos += line.len();
        let t = line.trim_end();
        match &open {
            None if t.starts_with("```") => {
                let info = t.trim_start_matches('`').trim().to_string();
                if info != "text output" && !info.is_empty() {
                    expect_output = false;
                }
                open = Some((info, pos));
            }
            None if !t.is_empty() => expect_output = false,
            None => {}
            Some((info, body)) if t == "```" => {
                let body = *body..start;
                if info == "sh runnable" {
                    blocks.push(Block { code: md[body].to_string(), output: None });
                    expect_output = true;
                } else if info == "text output" && expect_output {
                    if let Some(b) = blocks.last_mut() {
                        b.output = Some(body);
                    }
                    expect_output = false;
                }
                open = None;
            }
            Some(_) => {}
        }
    }
    blocks
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().map(Result::unwrap) {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn readme_examples_run_as_written_and_print_what_it_shows() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme_path = root.join("README.md");
    let readme = std::fs::read_to_string(&readme_path).unwrap();
    let blocks = runnable_blocks(&readme);
    assert!(blocks.len() >= 3, "the README has runnable blocks");
    // A clone's files the examples read, in a fresh directory (outputs land there, not here).
    let clone = temp_dir("readme");
    for dir in ["sample-data", "queries", "docs"] {
        copy_dir(&root.join(dir), &clone.join(dir));
    }
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_rootline"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut updated = readme.clone();
    let mut shift: isize = 0;
    for b in &blocks {
        let o = Command::new("sh")
            .args(["-e", "-c", &b.code])
            .current_dir(&clone)
            .env("PATH", &path)
            .env("HOME", clone.join("home"))
            .env_remove("XDG_STATE_HOME")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
        // A check's exit code is its status: judged by the output, not as a failure.
        let check_status =
            b.code.contains("rootline check") && o.status.code().is_some_and(|c| c <= 3);
        assert!(
            o.status.success() || check_status,
            "this README block failed:\n{}\n{}",
            b.code,
            String::from_utf8_lossy(&o.stderr)
        );
        let Some(range) = &b.output else { continue };
        let shown = &readme[range.clone()];
        if std::env::var("UPDATE_GOLDEN").as_deref() == Ok("1") {
            let (a, z) =
                ((range.start as isize + shift) as usize, (range.end as isize + shift) as usize);
            updated.replace_range(a..z, &stdout);
            shift += stdout.len() as isize - shown.len() as isize;
        } else {
            assert_eq!(
                shown, stdout,
                "the README shows another output for:\n{}\n(UPDATE_GOLDEN=1 cargo test readme rewrites it)",
                b.code
            );
        }
    }
    if updated != readme {
        std::fs::write(&readme_path, updated).unwrap();
    }
}

#[test]
fn runnable_blocks_are_found_with_their_outputs() {
    let md = "x\n```sh runnable\na\n```\n\n```text output\nb\n```\n```sh\nc\n```\n```sh runnable\nd\n```\nprose\n```text output\ne\n```\n";
    let blocks = runnable_blocks(md);
    assert_eq!(blocks.len(), 2);
    assert_eq!(
        (blocks[0].code.as_str(), blocks[0].output.clone().map(|r| &md[r])),
        ("a\n", Some("b\n"))
    );
    assert_eq!((blocks[1].code.as_str(), blocks[1].output.is_none()), ("d\n", true));
}

/// The shipped systemd units are valid: `systemd-analyze verify`, with ExecStart pointing at
/// this build (the install step puts it at /usr/local/bin). Skips where systemd-analyze is not
/// installed.
#[test]
fn the_systemd_units_verify() {
    let Ok(probe) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("skipped: systemd-analyze is not installed");
        return;
    };
    if !probe.status.success() {
        eprintln!("skipped: systemd-analyze does not run here");
        return;
    }
    let dir = temp_dir("systemd");
    let units = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/systemd");
    for name in ["rootline-check.service", "rootline-check.timer"] {
        let text = std::fs::read_to_string(units.join(name)).unwrap();
        let text = text.replace("/usr/local/bin/rootline", env!("CARGO_BIN_EXE_rootline"));
        std::fs::write(dir.join(name), text).unwrap();
    }
    let o = Command::new("systemd-analyze")
        .arg("verify")
        .arg(dir.join("rootline-check.service"))
        .arg(dir.join("rootline-check.timer"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
