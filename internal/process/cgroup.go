package process

import (
	"strings"
)

// FromCgroup says what a cgroup path (as in /proc/PID/cgroup, seen from the
// host's cgroup namespace) tells about the systemd unit and the container
// holding a process. It is pure: it never asks a daemon, so the names it can
// give are only those the path itself carries. Either result may be empty.
//
// Container runtimes name their cgroups in two styles: the systemd driver
// makes a scope per container (docker-<id>.scope, cri-containerd-<id>.scope,
// crio-<id>.scope, libpod-<id>.scope) while the cgroupfs driver makes a plain
// directory (/docker/<id>, /kubepods/burstable/pod<uid>/<id>). Both appear in
// the field, often on the same fleet.
func FromCgroup(path string) (unit string, c *Container) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	var pod string
	for i, p := range parts {
		if p == "" {
			continue
		}
		if uid, ok := podUID(p); ok {
			pod = uid
			continue
		}
		if found := containerFromElem(parts, i); found != nil {
			c = found
			// Deeper elements (docker's nested "/init" or podman's
			// "/container") belong to the same container.
			break
		}
		if p == "init.scope" && unit != "" {
			// A user manager's own process: user@1000.service names it.
			continue
		}
		if strings.HasSuffix(p, ".service") || strings.HasSuffix(p, ".scope") {
			unit = p
		}
	}
	if c != nil {
		if pod != "" {
			c.Pod = pod
		}
		return unit, c
	}
	if pod != "" {
		// A pod cgroup with no container below it: the pause process or a
		// runtime we do not know by name.
		return unit, &Container{Runtime: "kubernetes", Pod: pod}
	}
	return unit, nil
}

// containerFromElem recognises parts[i] as a container's cgroup.
func containerFromElem(parts []string, i int) *Container {
	p := parts[i]
	if strings.HasSuffix(p, ".scope") {
		name := strings.TrimSuffix(p, ".scope")
		for _, s := range scopePrefixes {
			if id, ok := strings.CutPrefix(name, s.prefix); ok && isContainerID(id) {
				return &Container{Runtime: s.runtime, ID: id}
			}
		}
		return nil
	}
	parent := ""
	if i > 0 {
		parent = parts[i-1]
	}
	switch {
	case isContainerID(p) && (parent == "docker" || isPodElem(parent)):
		rt := "docker"
		if isPodElem(parent) {
			// cgroupfs-driver kubelet: the path does not say which
			// runtime made the container.
			rt = "kubernetes"
		}
		return &Container{Runtime: rt, ID: p}
	case parent == "lxc" && i == 1:
		// LXC 1.x/2.x: /lxc/<name>
		return &Container{Runtime: "lxc", ID: p, Name: p}
	case strings.HasPrefix(p, "lxc.payload.") && i == 0:
		name := strings.TrimPrefix(p, "lxc.payload.")
		return &Container{Runtime: "lxc", ID: name, Name: name}
	case p == "lxc.payload" && i == 0 && len(parts) > 1:
		// LXC 3.x: /lxc.payload/<name>
		return &Container{Runtime: "lxc", ID: parts[1], Name: parts[1]}
	case strings.HasPrefix(p, "lxc.monitor.") && i == 0:
		name := strings.TrimPrefix(p, "lxc.monitor.")
		return &Container{Runtime: "lxc", ID: name, Name: name}
	}
	return nil
}

// scopePrefixes are systemd-driver scope names, most specific first (the
// conmon scopes hold the monitor of a container, which we count as part of
// it: it lives and dies with the container).
var scopePrefixes = [...]struct{ prefix, runtime string }{
	{"cri-containerd-", "containerd"},
	{"crio-conmon-", "cri-o"},
	{"crio-", "cri-o"},
	{"libpod-conmon-", "podman"},
	{"libpod-", "podman"},
	{"docker-", "docker"},
	{"nerdctl-", "containerd"},
}

// isContainerID accepts the 64-hex-digit ids every OCI runtime above uses.
func isContainerID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// podUID finds a Kubernetes pod UID in a cgroup element: "pod<uid>" with the
// cgroupfs driver, "kubepods-<qos>-pod<uid_with_underscores>.slice" with the
// systemd driver (systemd reserves '-' as its hierarchy separator).
func podUID(p string) (string, bool) {
	if name, ok := strings.CutSuffix(p, ".slice"); ok {
		if !strings.HasPrefix(name, "kubepods-") {
			return "", false
		}
		i := strings.LastIndex(name, "-pod")
		if i < 0 {
			return "", false
		}
		uid := strings.ReplaceAll(name[i+len("-pod"):], "_", "-")
		return uid, uid != ""
	}
	if uid, ok := strings.CutPrefix(p, "pod"); ok && len(uid) >= 32 && strings.Count(uid, "-") == 4 {
		return uid, true
	}
	return "", false
}

func isPodElem(p string) bool {
	_, ok := podUID(p)
	return ok
}
