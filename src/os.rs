//! The few operating-system calls std does not offer: free disk space (a pull must fit before
//! it starts), the open-files limit (raised at `serve` start-up, as Go programs do), a
//! thread's scheduling priority (background work yields to decoding), and the host name and
//! interface addresses (the Host-header check), and dropping the resident pages of part of a
//! mapped file (a model's output matrix once rollama keeps its own copy).

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Bytes an unprivileged process may still write on the file system holding `path`.
#[allow(unsafe_code)]
pub fn free_space(path: &Path) -> io::Result<u64> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c` is a NUL-terminated path and `st` points at writable memory of the right
    // type; statvfs fills it or fails.
    if unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it wrote the struct.
    let st = unsafe { st.assume_init() };
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Raises the soft open-files limit to the hard one (Go's runtime does this at start-up, so
/// Ollama does). Returns the limit now in force.
#[allow(unsafe_code)]
pub fn raise_open_files_limit() -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if lim.rlim_cur < lim.rlim_max {
        let want = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: `want` is a valid rlimit no higher than the hard limit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } != 0 {
            return Err(io::Error::last_os_error());
        }
        lim = want;
    }
    Ok(lim.rlim_cur)
}

/// Gives the calling thread the lowest scheduling priority (nice 19), so work it does in the
/// background (building a grammar) takes only the CPU that decoding leaves. On Linux the nice
/// value is per thread.
#[allow(unsafe_code)]
pub fn lower_this_threads_priority() -> io::Result<()> {
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    // SAFETY: plain syscall on this thread's id.
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 19) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The machine's host name (Go's `os.Hostname`).
#[allow(unsafe_code)]
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is writable for its whole length; gethostname NUL-terminates within it
    // or truncates.
    if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The IP addresses of this machine's network interfaces.
#[allow(unsafe_code)]
pub fn interface_addresses() -> Vec<std::net::IpAddr> {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return out;
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, alive until freeifaddrs.
        let ifa = unsafe { &*cur };
        if !ifa.ifa_addr.is_null() {
            // SAFETY: ifa_addr points at a sockaddr whose family says its real type.
            let family = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
            if family == libc::AF_INET {
                // SAFETY: an AF_INET address is a sockaddr_in.
                let sin = unsafe { &*ifa.ifa_addr.cast::<libc::sockaddr_in>() };
                out.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                    sin.sin_addr.s_addr,
                ))));
            } else if family == libc::AF_INET6 {
                // SAFETY: an AF_INET6 address is a sockaddr_in6.
                let sin6 = unsafe { &*ifa.ifa_addr.cast::<libc::sockaddr_in6>() };
                out.push(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)));
            }
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    out
}

/// One read-only mapping of a file in this process: its addresses and the file offset they
/// start at.
#[derive(Clone, Copy, Debug)]
pub struct FileMapping {
    lo: u64,
    hi: u64,
    offset: u64,
}

/// This process's read-only mappings of the file at `path` (`/proc/self/maps`); none if it is
/// not mapped or the table cannot be read.
pub fn file_mappings(path: &Path) -> Vec<FileMapping> {
    let (Ok(path), Ok(maps)) = (
        std::fs::canonicalize(path),
        std::fs::read_to_string("/proc/self/maps"),
    ) else {
        return Vec::new();
    };
    let hex = |v: &str| u64::from_str_radix(v, 16).ok();
    maps.lines()
        .filter_map(|line| {
            // start-end perms offset dev inode path
            let mut f = line.split_whitespace();
            let (range, perms, offset) = (f.next()?, f.next()?, f.next()?);
            if perms.contains('w') || Path::new(f.nth(2)?) != path {
                return None;
            }
            let (lo, hi) = range.split_once('-')?;
            Some(FileMapping {
                lo: hex(lo)?,
                hi: hex(hi)?,
                offset: hex(offset)?,
            })
        })
        .collect()
}

/// Drops this process's resident pages of file bytes `start..end` in `maps` (from
/// [`file_mappings`]) with `MADV_DONTNEED`: for a read-only file mapping they come back from
/// the page cache if touched again. Returns the bytes released.
#[allow(unsafe_code)]
pub fn release_file_range(maps: &[FileMapping], start: u64, end: u64) -> u64 {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    let mut released = 0;
    for m in maps {
        // The part of [start, end) this mapping holds, in addresses, whole pages inside it.
        let from = start.max(m.offset);
        let to = end.min(m.offset + (m.hi - m.lo));
        let a = (m.lo + (from - m.offset)).div_ceil(page) * page;
        let b = (m.lo + to.saturating_sub(m.offset)) / page * page;
        if from >= to || a >= b {
            continue;
        }
        // SAFETY: [a, b) lies inside a read-only file mapping of this process; dropping its
        // pages only makes later reads fault them in again from the file.
        if unsafe {
            libc::madvise(
                a as *mut libc::c_void,
                (b - a) as usize,
                libc::MADV_DONTNEED,
            )
        } == 0
        {
            released += b - a;
        }
    }
    released
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn free_space_is_read_and_a_missing_path_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(free_space(dir.path()).unwrap() > 0);
        assert!(free_space(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn the_loopback_interface_and_a_host_name_are_found() {
        assert!(interface_addresses().iter().any(|a| a.is_loopback()));
        assert!(!hostname().is_empty());
    }
}
