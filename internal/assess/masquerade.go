package assess

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/portwho/portwho/internal/process"
	"github.com/portwho/portwho/internal/report"
)

// masquerade: a process can rename itself (prctl PR_SET_NAME, or by
// overwriting argv[0]) to look like something a person skimming `ps` will
// not question. Two disguises are plain enough to call: a kernel thread's
// name on a program that holds a socket (kernel threads have no files),
// and the name of a well-known daemon on a different executable.
func masquerade(p *process.Process) (report.Finding, bool) {
	ev := masqueradeEvidence(p)
	if ev == "" {
		return report.Finding{}, false
	}
	return report.Finding{
		ID:       IDMasquerade,
		Severity: report.SeverityHigh,
		Title:    "process name disguises its executable",
		Why:      "renamed to pass for a kernel thread or system daemon in ps and top",
		Evidence: ev,
	}, true
}

func masqueradeEvidence(p *process.Process) string {
	exe := cleanExe(p.Exe)
	shown := exe
	if shown == "" {
		shown = "an unreadable executable"
	}
	if looksLikeKernelThread(p.Name) {
		return fmt.Sprintf("pid %d is named %q, a kernel thread's name, but runs %s and holds a socket", p.PID, p.Name, shown)
	}
	if len(p.Cmdline) > 0 && looksLikeKernelThread(p.Cmdline[0]) {
		return fmt.Sprintf("pid %d shows argv[0] %q, a kernel thread's name, but runs %s", p.PID, p.Cmdline[0], shown)
	}
	if exe == "" {
		return ""
	}
	base := path.Base(exe)
	if d := daemonName(p.Name); d != "" && !sameProgram(p.Name, base) {
		return fmt.Sprintf("pid %d is named %q like the %s daemon, but runs %s", p.PID, p.Name, d, exe)
	}
	return ""
}

// kernelThreadPrefixes are names the kernel gives its own threads.
var kernelThreadPrefixes = [...]string{
	"kworker/", "ksoftirqd/", "migration/", "rcu_", "watchdog/", "cpuhp/",
	"irq/", "jbd2/", "kthreadd", "kswapd", "kauditd", "khugepaged",
	"kcompactd", "kdevtmpfs", "kblockd", "ksmd", "oom_reaper", "writeback",
	"scsi_eh_", "kintegrityd", "kthrotld", "md_bitmap", "xfsaild/", "ext4-rsv",
}

func looksLikeKernelThread(name string) bool {
	if len(name) > 2 && name[0] == '[' && name[len(name)-1] == ']' {
		return true
	}
	for _, pfx := range kernelThreadPrefixes {
		if strings.HasPrefix(name, pfx) {
			return true
		}
	}
	return false
}

// wellKnownDaemons are names malware borrows because every host has them.
var wellKnownDaemons = [...]string{
	"sshd", "systemd", "init", "cron", "crond", "rsyslogd", "syslogd",
	"dbus-daemon", "systemd-journald", "systemd-logind", "systemd-udevd",
	"systemd-resolved", "systemd-networkd", "udevd", "agetty", "atd",
	"nginx", "apache2", "httpd", "mysqld", "postgres",
	"chronyd", "ntpd", "cupsd", "polkitd", "snapd", "containerd", "dockerd",
}

// daemonSymlinks are distribution symlinks from a daemon's classic name to
// the binary that now provides it.
var daemonSymlinks = map[string][]string{
	"init":    {"systemd"},
	"mysqld":  {"mariadbd"},
	"httpd":   {"apache2", "lighttpd"},
	"crond":   {"cronie"},
	"syslogd": {"rsyslogd", "syslog-ng"},
	"ntpd":    {"ntpsec", "openntpd"},
}

// daemonName returns the daemon a process name claims to be, allowing for
// the kernel's 15-byte truncation of comm.
func daemonName(name string) string {
	if name == "" {
		return ""
	}
	for _, d := range wellKnownDaemons {
		if name == d || (len(name) == 15 && strings.HasPrefix(d, name)) {
			return d
		}
	}
	return ""
}

// sameProgram compares a comm with an executable's file name: comm is the
// file name cut to 15 bytes unless the program renamed itself.
func sameProgram(comm, base string) bool {
	if comm == base || (len(comm) == 15 && strings.HasPrefix(base, comm)) {
		return true
	}
	// comm is the name the program was started by, so a symlink's name
	// shows on the target's executable; busybox runs every applet.
	if base == "busybox" || slices.Contains(daemonSymlinks[comm], base) {
		return true
	}
	// sshd re-executes as sshd-session/sshd-auth (OpenSSH 9.8+) and keeps
	// "sshd" in some builds; postgres runs as postgres from any version dir.
	return strings.HasPrefix(base, comm+"-") || strings.HasPrefix(base, comm+".")
}
