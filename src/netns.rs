//! Named network namespaces (`/run/netns/<name>`, the same files `ip netns`
//! uses), running code inside one on a dedicated thread, and the [`Sandbox`]
//! guard that deletes everything it created when dropped (also on panic).

use anyhow::{anyhow, bail, Context, Result};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use std::fs::File;
use std::future::Future;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Where named network namespaces live (shared with iproute2).
pub const NETNS_DIR: &str = "/run/netns";

/// A named network namespace, bind-mounted at `/run/netns/<name>`.
///
/// The handle does not own the namespace: [`Sandbox`] deletes the ones it
/// created, and [`Netns::delete`] deletes one explicitly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Netns {
    name: String,
    path: PathBuf,
}

/// Make `/run/netns` a shared mount point, as `ip netns add` does, so the
/// namespace files are visible in mount namespaces created later.
fn ensure_netns_dir() -> Result<()> {
    std::fs::create_dir_all(NETNS_DIR).context("create /run/netns")?;
    let shared = MsFlags::MS_SHARED | MsFlags::MS_REC;
    if mount(None::<&str>, NETNS_DIR, None::<&str>, shared, None::<&str>).is_err() {
        mount(
            Some(NETNS_DIR),
            NETNS_DIR,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .context("bind-mount /run/netns onto itself")?;
        mount(None::<&str>, NETNS_DIR, None::<&str>, shared, None::<&str>)
            .context("make /run/netns shared")?;
    }
    Ok(())
}

impl Netns {
    /// Create a new named network namespace with `lo` up.
    pub fn create(name: &str) -> Result<Netns> {
        ensure_netns_dir()?;
        let path = Path::new(NETNS_DIR).join(name);
        if path.exists() {
            bail!(
                "network namespace {name} already exists ({})",
                path.display()
            );
        }
        File::create(&path).with_context(|| format!("create {}", path.display()))?;
        let target = path.clone();
        let made = std::thread::spawn(move || -> Result<()> {
            unshare(CloneFlags::CLONE_NEWNET).context("unshare(CLONE_NEWNET)")?;
            mount(
                Some("/proc/thread-self/ns/net"),
                &target,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .context("bind-mount the new netns")?;
            Ok(())
        })
        .join()
        .map_err(|_| anyhow!("netns creation thread panicked"))?;
        if let Err(e) = made {
            let _ = std::fs::remove_file(&path);
            return Err(e.context(format!("create network namespace {name}")));
        }
        let ns = Netns {
            name: name.to_string(),
            path,
        };
        crate::link::set_up(&ns, "lo")?;
        Ok(ns)
    }

    /// A handle to an existing named namespace.
    pub fn open(name: &str) -> Result<Netns> {
        let path = Path::new(NETNS_DIR).join(name);
        if !path.exists() {
            bail!("no network namespace {name}");
        }
        Ok(Netns {
            name: name.to_string(),
            path,
        })
    }

    /// Names of all namespaces in `/run/netns`.
    pub fn list() -> Result<Vec<String>> {
        let mut names = Vec::new();
        if let Ok(dir) = std::fs::read_dir(NETNS_DIR) {
            for e in dir {
                names.push(e?.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Open the namespace file (for setns).
    pub fn file(&self) -> Result<File> {
        File::open(&self.path).with_context(|| format!("open {}", self.path.display()))
    }

    /// Unmount and remove the namespace file. The kernel frees the namespace
    /// once no process, thread or socket refers to it any more.
    pub fn delete(&self) -> Result<()> {
        let _ = umount2(&self.path, MntFlags::MNT_DETACH);
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("remove {}", self.path.display())),
        }
    }

    /// Run `f` on a fresh thread that has entered this namespace (setns).
    /// Sockets created there stay in this namespace after the thread ends.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
        let file = self.file()?;
        let name = self.name.clone();
        std::thread::scope(|s| {
            s.spawn(move || {
                setns(file.as_fd(), CloneFlags::CLONE_NEWNET)
                    .with_context(|| format!("setns into {name}"))?;
                f()
            })
            .join()
            .map_err(|_| anyhow!("thread in netns {} panicked", self.name))?
        })
    }

    /// Run an async netlink job with an rtnetlink handle bound to this
    /// namespace (a current-thread tokio runtime on a thread inside it).
    pub fn netlink<T, F, Fut>(&self, f: F) -> Result<T>
    where
        T: Send,
        F: FnOnce(rtnetlink::Handle) -> Fut + Send,
        Fut: Future<Output = Result<T>>,
    {
        self.run(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("tokio runtime")?;
            rt.block_on(async move {
                let (conn, handle, _) =
                    rtnetlink::new_connection().context("netlink connection")?;
                tokio::spawn(conn);
                f(handle).await
            })
        })
    }

    /// Write a sysctl (`net/ipv4/ip_forward` style path) inside this namespace.
    pub fn set_sysctl(&self, key: &str, value: &str) -> Result<()> {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        self.run(move || {
            std::fs::write(&path, value).with_context(|| format!("write {path} = {value}"))
        })
    }

    /// Read a sysctl inside this namespace.
    pub fn sysctl(&self, key: &str) -> Result<String> {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        self.run(move || {
            Ok(std::fs::read_to_string(&path)
                .with_context(|| format!("read {path}"))?
                .trim()
                .to_string())
        })
    }

    /// Read `/proc/net/<file>` as this namespace sees it (`snmp`, `snmp6`,
    /// `netstat`, `dev_snmp6/<ifname>`, ...). Read through
    /// `/proc/thread-self`: `/proc/net` is `/proc/self/net`, the namespace
    /// of the process's main thread, not of the thread that entered this
    /// one.
    pub fn read_proc_net(&self, file: &str) -> Result<String> {
        let path = format!("/proc/thread-self/net/{file}");
        self.run(move || std::fs::read_to_string(&path).with_context(|| format!("read {path}")))
    }

    /// A command that runs inside this namespace (setns between fork and
    /// exec; the mount namespace stays the caller's, so `/sys` does not
    /// follow, `/proc/sys` and `/proc/net` do).
    pub fn command(&self, program: &str) -> Result<Command> {
        let file = self.file()?;
        let mut cmd = Command::new(program);
        // SAFETY: setns is async-signal-safe; `file` moves into the closure
        // and stays open until the command is dropped.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        Ok(cmd)
    }

    /// Run `args[0] args[1..]` inside this namespace; its stdout if it
    /// exits 0, otherwise an error with its stderr.
    pub fn output(&self, args: &[&str]) -> Result<String> {
        let (program, rest) = args.split_first().context("no command")?;
        let out = self
            .command(program)?
            .args(rest)
            .output()
            .with_context(|| format!("run {args:?} in {}", self.name))?;
        if !out.status.success() {
            bail!(
                "{args:?} in {} failed ({}): {}",
                self.name,
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

static SANDBOX_SEQ: AtomicU32 = AtomicU32::new(0);

/// A unique short tag for one sandbox: process id and a counter.
pub fn unique_tag() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        SANDBOX_SEQ.fetch_add(1, Ordering::SeqCst)
    )
}

type Stopper = Box<dyn FnOnce() + Send>;

/// Owns the namespaces, directories and background helpers of one topology
/// and removes them on drop, in reverse order of creation.
pub struct Sandbox {
    prefix: String,
    namespaces: Vec<Netns>,
    dirs: Vec<PathBuf>,
    stoppers: Vec<Stopper>,
    keep: bool,
}

impl Sandbox {
    /// Namespaces are named `<prefix>-<role>`.
    pub fn new(prefix: &str) -> Sandbox {
        Sandbox {
            prefix: prefix.to_string(),
            namespaces: Vec::new(),
            dirs: Vec::new(),
            stoppers: Vec::new(),
            keep: false,
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Create namespace `<prefix>-<role>`, deleted with the sandbox.
    pub fn netns(&mut self, role: &str) -> Result<Netns> {
        let ns = Netns::create(&format!("{}-{role}", self.prefix))?;
        self.namespaces.push(ns.clone());
        Ok(ns)
    }

    /// Create a directory, removed (recursively) with the sandbox.
    pub fn dir(&mut self, path: &Path) -> Result<PathBuf> {
        std::fs::create_dir_all(path).with_context(|| format!("create {}", path.display()))?;
        self.dirs.push(path.to_path_buf());
        Ok(path.to_path_buf())
    }

    /// Run `stop` when the sandbox is dropped (before namespaces go).
    pub fn on_drop(&mut self, stop: impl FnOnce() + Send + 'static) {
        self.stoppers.push(Box::new(stop));
    }

    /// Leave everything in place (for `as-gateway up`).
    pub fn keep(&mut self) {
        self.keep = true;
    }

    /// Remove everything now; errors are collected, not fatal.
    pub fn cleanup(&mut self) -> Vec<String> {
        let mut errors = Vec::new();
        while let Some(stop) = self.stoppers.pop() {
            stop();
        }
        while let Some(ns) = self.namespaces.pop() {
            if let Err(e) = ns.delete() {
                errors.push(format!("{e:#}"));
            }
        }
        while let Some(d) = self.dirs.pop() {
            if d.exists() {
                if let Err(e) = std::fs::remove_dir_all(&d) {
                    errors.push(format!("remove {}: {e}", d.display()));
                }
            }
        }
        errors
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if self.keep || std::env::var_os("AS_GATEWAY_KEEP").is_some() {
            if !self.keep {
                eprintln!("AS_GATEWAY_KEEP set: leaving namespaces {}-*", self.prefix);
            }
            return;
        }
        for e in self.cleanup() {
            eprintln!("as-gateway cleanup: {e}");
        }
    }
}
