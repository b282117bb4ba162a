package process

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFromCgroup(t *testing.T) {
	id := strings.Repeat("0123456789abcdef", 4)
	tests := []struct {
		name      string
		path      string
		unit      string
		container *Container
	}{
		{"root", "/", "", nil},
		{"pid 1", "/init.scope", "init.scope", nil},
		{"system service", "/system.slice/nginx.service", "nginx.service", nil},
		{"templated service", "/system.slice/system-getty.slice/getty@tty1.service", "getty@tty1.service", nil},
		{"login session", "/user.slice/user-1000.slice/session-3.scope", "session-3.scope", nil},
		{"user manager", "/user.slice/user-1000.slice/user@1000.service/init.scope", "user@1000.service", nil},
		{"user unit", "/user.slice/user-1000.slice/user@1000.service/app.slice/app-gnome-firefox-2291.scope", "app-gnome-firefox-2291.scope", nil},
		{"user service", "/user.slice/user-1000.slice/user@1000.service/app.slice/syncthing.service", "syncthing.service", nil},
		{"not a container: 32 hex", "/process_api/a744692761e79c5e66166a7ca699fe00", "", nil},
		{"docker systemd driver", "/system.slice/docker-" + id + ".scope", "", &Container{Runtime: "docker", ID: id}},
		{"docker cgroupfs driver", "/docker/" + id, "", &Container{Runtime: "docker", ID: id}},
		{"docker with init cgroup", "/system.slice/docker-" + id + ".scope/init", "", &Container{Runtime: "docker", ID: id}},
		{"docker's daemon is not a container", "/system.slice/docker.service", "docker.service", nil},
		{"containerd nerdctl", "/system.slice/nerdctl-" + id + ".scope", "", &Container{Runtime: "containerd", ID: id}},
		{"cri-o", "/machine.slice/crio-" + id + ".scope", "", &Container{Runtime: "cri-o", ID: id}},
		{"cri-o conmon", "/machine.slice/crio-conmon-" + id + ".scope", "", &Container{Runtime: "cri-o", ID: id}},
		{"podman", "/machine.slice/libpod-" + id + ".scope", "", &Container{Runtime: "podman", ID: id}},
		{"podman nested", "/machine.slice/libpod-" + id + ".scope/container", "", &Container{Runtime: "podman", ID: id}},
		{"podman conmon", "/machine.slice/libpod-conmon-" + id + ".scope", "", &Container{Runtime: "podman", ID: id}},
		{"rootless podman", "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + id + ".scope", "user@1000.service", &Container{Runtime: "podman", ID: id}},
		{
			"kubernetes systemd driver, containerd",
			"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6f1b8a4c_1d2e_4f3a_9b8c_7d6e5f4a3b2c.slice/cri-containerd-" + id + ".scope",
			"", &Container{Runtime: "containerd", ID: id, Pod: "6f1b8a4c-1d2e-4f3a-9b8c-7d6e5f4a3b2c"},
		},
		{
			"kubernetes guaranteed qos, cri-o",
			"/kubepods.slice/kubepods-pod6f1b8a4c_1d2e_4f3a_9b8c_7d6e5f4a3b2c.slice/crio-" + id + ".scope",
			"", &Container{Runtime: "cri-o", ID: id, Pod: "6f1b8a4c-1d2e-4f3a-9b8c-7d6e5f4a3b2c"},
		},
		{
			"kubernetes cgroupfs driver",
			"/kubepods/burstable/pod6f1b8a4c-1d2e-4f3a-9b8c-7d6e5f4a3b2c/" + id,
			"", &Container{Runtime: "kubernetes", ID: id, Pod: "6f1b8a4c-1d2e-4f3a-9b8c-7d6e5f4a3b2c"},
		},
		{
			"kubernetes pod without a container element",
			"/kubepods/besteffort/pod6f1b8a4c-1d2e-4f3a-9b8c-7d6e5f4a3b2c",
			"", &Container{Runtime: "kubernetes", Pod: "6f1b8a4c-1d2e-4f3a-9b8c-7d6e5f4a3b2c"},
		},
		{"lxc 1.x", "/lxc/web01", "", &Container{Runtime: "lxc", ID: "web01", Name: "web01"}},
		{"lxc 3.x", "/lxc.payload/web01/system.slice/nginx.service", "", &Container{Runtime: "lxc", ID: "web01", Name: "web01"}},
		{"lxc 4.x payload", "/lxc.payload.web01/system.slice/nginx.service", "", &Container{Runtime: "lxc", ID: "web01", Name: "web01"}},
		{"lxc monitor", "/lxc.monitor.web01", "", &Container{Runtime: "lxc", ID: "web01", Name: "web01"}},
		{"scope with a short id is only a unit", "/system.slice/docker-abc.scope", "docker-abc.scope", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			unit, c := FromCgroup(tt.path)
			if unit != tt.unit {
				t.Errorf("unit = %q, want %q", unit, tt.unit)
			}
			if diff := cmp.Diff(tt.container, c); diff != "" {
				t.Errorf("container (-want +got):\n%s", diff)
			}
		})
	}
}
