//! netavark's setup/teardown JSON (mirrors `src/network/types.rs` of
//! netavark 2.1.0) and a runner that executes a netavark binary inside a
//! simulated host namespace.

use crate::netns::Netns;
use anyhow::{bail, Context, Result};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A network as netavark receives it in `network_info`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Network {
    pub dns_enabled: bool,
    pub driver: String,
    pub id: String,
    pub internal: bool,
    pub ipv6_enabled: bool,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_interface: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipam_options: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnets: Option<Vec<Subnet>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routes: Option<Vec<Route>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_dns_servers: Option<Vec<IpAddr>>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Subnet {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    pub subnet: IpNet,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Route {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    pub destination: IpNet,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric: Option<u32>,
}

/// `networks.<name>` of a setup config: the per-container options.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct PerNetworkOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aliases: Option<Vec<String>>,
    pub interface_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub static_ips: Option<Vec<IpAddr>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub static_mac: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<BTreeMap<String, String>>,
}

/// The whole setup/teardown config of one container.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct NetworkOptions {
    pub container_id: String,
    pub container_name: String,
    pub networks: BTreeMap<String, PerNetworkOptions>,
    pub network_info: BTreeMap<String, Network>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_servers: Option<Vec<IpAddr>>,
}

/// The status block netavark prints per network on a successful setup.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct StatusBlock {
    #[serde(default)]
    pub dns_search_domains: Option<Vec<String>>,
    #[serde(default)]
    pub dns_server_ips: Option<Vec<IpAddr>>,
    #[serde(default)]
    pub interfaces: Option<BTreeMap<String, NetInterface>>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NetInterface {
    pub mac_address: String,
    #[serde(default)]
    pub subnets: Option<Vec<NetAddress>>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NetAddress {
    #[serde(default)]
    pub gateway: Option<IpAddr>,
    pub ipnet: IpNet,
}

/// Status blocks by network name.
pub type Statuses = BTreeMap<String, StatusBlock>;

/// What one netavark invocation did.
#[derive(Clone, Debug)]
pub struct RunOutput {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl RunOutput {
    /// The output itself if netavark's `command` succeeded, otherwise an error
    /// naming the command, the container, the exit code and netavark's message.
    fn succeeded(self, command: &str, opts: &NetworkOptions) -> Result<Self> {
        if !self.success() {
            bail!(
                "netavark {command} of {} failed ({:?}): {}",
                opts.container_name,
                self.code,
                self.error_message()
            );
        }
        Ok(self)
    }

    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// The error netavark reports: `{"error": "..."}` on stdout (netavark
    /// prints errors as JSON on stdout), else stderr.
    pub fn error_message(&self) -> String {
        #[derive(Deserialize)]
        struct JsonError {
            error: String,
        }
        for line in self.stdout.lines() {
            if let Ok(e) = serde_json::from_str::<JsonError>(line) {
                return e.error;
            }
        }
        if self.stderr.trim().is_empty() {
            self.stdout.trim().to_string()
        } else {
            self.stderr.trim().to_string()
        }
    }

    /// stdout + stderr, for matching an error wherever netavark put it.
    pub fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Runs one netavark binary with a config dir, inside `host` (the simulated
/// host namespace) and a private mount namespace.
#[derive(Clone, Debug)]
pub struct Netavark {
    pub binary: PathBuf,
    pub config_dir: PathBuf,
    pub host: Netns,
}

/// The patched binary: `$AS_GATEWAY_NETAVARK` or build/bin/netavark.
pub fn patched_binary() -> PathBuf {
    binary_from_env("AS_GATEWAY_NETAVARK", "build/bin/netavark")
}

/// The stock binary: `$AS_GATEWAY_NETAVARK_STOCK` or build/bin/netavark-stock.
pub fn stock_binary() -> PathBuf {
    binary_from_env("AS_GATEWAY_NETAVARK_STOCK", "build/bin/netavark-stock")
}

fn binary_from_env(var: &str, default: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join(default),
    }
}

/// An aardvark-dns path that does not exist: no DNS daemon may ever be
/// started in a sandbox (it would outlive the test).
pub const NO_AARDVARK: &str = "/nonexistent/as-gateway/aardvark-dns";

impl Netavark {
    pub fn new(binary: &Path, config_dir: &Path, host: &Netns) -> Result<Netavark> {
        if !binary.exists() {
            bail!(
                "netavark binary {} does not exist (build it with `make netavark`)",
                binary.display()
            );
        }
        Ok(Netavark {
            binary: binary.to_path_buf(),
            config_dir: config_dir.to_path_buf(),
            host: host.clone(),
        })
    }

    /// Run `netavark --config <dir> <args...>` with `stdin`.
    pub fn run(&self, args: &[&str], stdin: &str) -> Result<RunOutput> {
        let host = self.host.file()?;
        let host_fd = host.as_raw_fd();
        let mount_sysctl_d = Path::new("/run/systemd/system").exists();
        if mount_sysctl_d {
            std::fs::create_dir_all("/run/sysctl.d").ok();
        }
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--config")
            .arg(&self.config_dir)
            .arg("--aardvark-binary")
            .arg(NO_AARDVARK)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: only async-signal-safe libc calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(host_fd, libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::unshare(libc::CLONE_NEWNS) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let root = c"/";
                if libc::mount(
                    std::ptr::null(),
                    root.as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                // a fresh sysfs shows the links of the host namespace
                let sysfs = c"sysfs";
                if libc::mount(
                    sysfs.as_ptr(),
                    c"/sys".as_ptr(),
                    sysfs.as_ptr(),
                    0,
                    std::ptr::null(),
                ) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                if mount_sysctl_d {
                    let tmpfs = c"tmpfs";
                    libc::mount(
                        tmpfs.as_ptr(),
                        c"/run/sysctl.d".as_ptr(),
                        tmpfs.as_ptr(),
                        0,
                        std::ptr::null(),
                    );
                }
                Ok(())
            });
        }
        let start = Instant::now();
        let mut child = cmd
            .spawn()
            .with_context(|| format!("run {}", self.binary.display()))?;
        {
            let mut input = child.stdin.take().context("stdin")?;
            input.write_all(stdin.as_bytes()).context("write stdin")?;
        }
        let out = child.wait_with_output().context("wait for netavark")?;
        drop(host);
        Ok(RunOutput {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            elapsed: start.elapsed(),
        })
    }

    /// `netavark setup <netns path>`, raw output.
    pub fn setup_raw(&self, container: &Netns, opts: &NetworkOptions) -> Result<RunOutput> {
        let json = serde_json::to_string_pretty(opts)?;
        let path = container.path().to_string_lossy().into_owned();
        self.run(&["setup", &path], &json)
    }

    /// `netavark teardown <netns path>`, raw output.
    pub fn teardown_raw(&self, container: &Netns, opts: &NetworkOptions) -> Result<RunOutput> {
        let json = serde_json::to_string_pretty(opts)?;
        let path = container.path().to_string_lossy().into_owned();
        self.run(&["teardown", &path], &json)
    }

    /// Setup that must succeed; returns the parsed status blocks.
    pub fn setup(&self, container: &Netns, opts: &NetworkOptions) -> Result<Statuses> {
        let out = self.setup_raw(container, opts)?.succeeded("setup", opts)?;
        serde_json::from_str(&out.stdout)
            .with_context(|| format!("parse status block: {}", out.stdout))
    }

    /// Teardown that must succeed.
    pub fn teardown(&self, container: &Netns, opts: &NetworkOptions) -> Result<()> {
        self.teardown_raw(container, opts)?
            .succeeded("teardown", opts)?;
        Ok(())
    }
}
