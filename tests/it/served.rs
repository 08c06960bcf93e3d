//! `mdm serve` run as its own process with its stderr (the log) collected
//! line by line as it comes: for tests that read what an operator reads.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Served {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

/// `mdm serve` on `database_url` and `data_dir`, on a free port, with the
/// bootstrap admin password of the tests; the caller adds its log settings.
pub fn serve_command(database_url: &str, data_dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mdm"));
    command
        .arg("serve")
        .env("DATABASE_URL", database_url)
        .env("MDM_DATA_DIR", data_dir)
        .env("MDM_BIND", "127.0.0.1:0")
        .env(
            "MDM_BOOTSTRAP_ADMIN_PASSWORD",
            crate::common::ADMIN_PASSWORD,
        );
    command
}

impl Served {
    pub fn spawn(command: &mut Command) -> Served {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mdm serve");
        let stderr = child.stderr.take().expect("stderr piped");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).split(b'\n') {
                let Ok(line) = line else { break };
                sink.lock()
                    .expect("log lines")
                    .push(String::from_utf8_lossy(&line).into_owned());
            }
        });
        Served {
            child,
            lines,
            reader: Some(reader),
        }
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("log lines").clone()
    }

    pub fn text(&self) -> String {
        self.lines.lock().expect("log lines").join("\n")
    }

    /// Waits until a line contains `needle`, and returns it.
    pub fn wait_for(&self, needle: &str) -> String {
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until {
            if let Some(l) = self
                .lines
                .lock()
                .expect("log lines")
                .iter()
                .find(|l| l.contains(needle))
            {
                return l.clone();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no log line with {needle:?} in:\n{}", self.text());
    }

    pub fn port(&self) -> u16 {
        let line = self.wait_for("listening on http://");
        line.rsplit(':')
            .next()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"))
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port())
    }

    /// SIGTERM, then waits for the process and its log to end; fails if
    /// the server runs on.
    pub fn stop(&mut self) -> String {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        // Longer than the drain (30 s), which idle connections may take.
        let until = Instant::now() + Duration::from_secs(40);
        while self.child.try_wait().expect("wait").is_none() {
            if Instant::now() > until {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("the server ran on after SIGTERM:\n{}", self.text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        self.text()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
