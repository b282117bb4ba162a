package assess

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/portwho/portwho/internal/process"
	"github.com/portwho/portwho/internal/report"
)

// shellListener: a shell, an interpreter started bare, or a socket relay
// holding a listener directly is how bind shells and quick exfiltration
// servers look (`nc -l`, `python3 -c ...`, `socat TCP-LISTEN`). Real
// services written in a scripting language can be allowed by name or path.
// It is judged per process; the caller asks only for listeners' holders.
func shellListener(p *process.Process, c *Config) (report.Finding, bool) {
	kind := shellKind(p)
	if kind == "" || shellAllowed(p, c) {
		return report.Finding{}, false
	}
	return report.Finding{
		ID:       IDShellListener,
		Severity: report.SeverityHigh,
		Title:    fmt.Sprintf("a %s holds the listening socket directly", kind),
		Why:      "bind shells and ad-hoc relays look like this (allow it in the policy settings if it is yours)",
		Evidence: fmt.Sprintf("pid %d: %s", p.PID, describeProcess(p)),
	}, true
}

var (
	shellNames       = []string{"sh", "bash", "dash", "zsh", "ksh", "ksh93", "mksh", "csh", "tcsh", "fish", "ash", "busybox"}
	relayNames       = []string{"nc", "ncat", "netcat", "nc.openbsd", "nc.traditional", "socat", "telnetd", "busybox"}
	interpreterNames = regexp.MustCompile(`^(python|perl|ruby|php|lua|luajit|tclsh|wish|gawk|awk|mawk|pwsh|powershell|osascript)[0-9.]*(-[a-z]+)?$`)
)

// shellKind names the kind of program, or "" if it is not one. busybox is
// judged by the applet it runs as (its comm): busybox httpd is a web
// server, busybox nc is nc.
func shellKind(p *process.Process) string {
	name := exeBase(p.Exe, p.Name)
	if name == "busybox" {
		name = p.Name
	}
	switch {
	case contains(shellNames, name) && name != "busybox":
		return "shell (" + name + ")"
	case contains(relayNames, name) && name != "busybox":
		return "socket relay (" + name + ")"
	case interpreterNames.MatchString(name):
		return "script interpreter (" + name + ")"
	}
	return ""
}

func shellAllowed(p *process.Process, c *Config) bool {
	exe := cleanExe(p.Exe)
	for _, a := range c.AllowedShells {
		if strings.Contains(a, "/") {
			if globMatch(a, exe) {
				return true
			}
		} else if a == p.Name || a == exeBase(exe, "") || globMatch(a, p.Name) {
			return true
		}
	}
	return false
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// describeProcess is evidence text: exe and a shortened command line.
func describeProcess(p *process.Process) string {
	exe := cleanExe(p.Exe)
	if exe == "" {
		exe = p.Name
	}
	if len(p.Cmdline) == 0 {
		return exe
	}
	cmd := strings.Join(p.Cmdline, " ")
	if len(cmd) > 120 {
		cmd = cmd[:117] + "..."
	}
	return exe + " (" + cmd + ")"
}
