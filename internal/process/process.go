// Package process says what a pid is: executable, user, command line, start
// time, parents, systemd unit, container and network namespace.
package process

import "time"

// Process is one running process as seen when it was read.
type Process struct {
	PID  int    `json:"pid"`
	PPID int    `json:"ppid"`
	Name string `json:"name"` // comm, as the process set it (prctl may change it)
	UID  uint32 `json:"uid"`
	User string `json:"user"` // user name, or the uid in decimal when unknown
	// Cmdline is the argument vector; empty for kernel threads and zombies.
	Cmdline []string `json:"cmdline"`
	// Exe is the executable's path ("" when it cannot be read).
	Exe string `json:"exe"`
	// ExeDeleted is true when the executable was removed from disk while
	// the process kept running.
	ExeDeleted bool      `json:"exe_deleted"`
	Cwd        string    `json:"cwd,omitempty"`
	StartTime  time.Time `json:"start_time"`
	// Parents is the chain from the parent up to pid 1.
	Parents   []Ancestor `json:"parents,omitempty"`
	Unit      string     `json:"unit,omitempty"` // systemd unit, from the cgroup
	Container *Container `json:"container,omitempty"`
	Cgroup    string     `json:"cgroup,omitempty"`
	// NetNS is the inode of the process's network namespace.
	NetNS uint64 `json:"netns"`
}

// Ancestor is one step of a parent chain.
type Ancestor struct {
	PID  int    `json:"pid"`
	Name string `json:"name"`
}

// Container is what the cgroup path says about a container.
type Container struct {
	// Runtime is docker, containerd, podman, cri-o, kubernetes, lxc, ...
	Runtime string `json:"runtime"`
	ID      string `json:"id"`
	// Pod is the Kubernetes pod UID when the cgroup names one.
	Pod string `json:"pod,omitempty"`
	// Name is a human name where one is known without asking a daemon.
	Name string `json:"name,omitempty"`
}
