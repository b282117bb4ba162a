package process

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseStat(t *testing.T) {
	tail := " 1 1 0 0 0 0 0 0 0 0 0 0 0 20 0 1 0 4567 0 0\n"
	tests := []struct {
		name    string
		in      string
		want    stat
		wantErr bool
	}{
		{"plain", "1234 (nginx) S 1" + tail, stat{pid: 1234, comm: "nginx", state: 'S', ppid: 1, startTime: 4567}, false},
		{"spaces and parentheses in the name", "1234 (a) b)) S 77" + tail, stat{pid: 1234, comm: "a) b)", state: 'S', ppid: 77, startTime: 4567}, false},
		{"empty name", "9 () R 2" + tail, stat{pid: 9, comm: "", state: 'R', ppid: 2, startTime: 4567}, false},
		{"name that looks like fields", "9 (x) S 5 6 7) Z 3" + tail, stat{pid: 9, comm: "x) S 5 6 7", state: 'Z', ppid: 3, startTime: 4567}, false},
		{"kernel thread", "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 0 0 0", stat{pid: 2, comm: "kthreadd", state: 'S', ppid: 0, startTime: 0}, false},
		{"truncated", "1234 (nginx) S 1 1 0", stat{}, true},
		{"no parentheses", "1234 nginx S 1" + tail, stat{}, true},
		{"bad pid", "x (nginx) S 1" + tail, stat{}, true},
		{"bad ppid", "1 (nginx) S x" + tail, stat{}, true},
		{"long state", "1 (nginx) SS 1" + tail, stat{}, true},
		{"empty", "", stat{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStat([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(stat{})); !tt.wantErr && diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("1234 (a) b)) S 77 1 1 0 0 0 0 0 0 0 0 0 0 0 20 0 1 0 4567 0 0\n"))
	f.Add([]byte("2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 0 0 0"))
	f.Add([]byte(")("))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseStat(b)
		if err != nil {
			return
		}
		// Whatever parsed must be consistent with the input: the name is
		// the text between the first '(' and the last ')'.
		s := string(b)
		if open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')'); s[open+1:end] != st.comm {
			t.Fatalf("comm = %q, input %q", st.comm, s)
		}
	})
}

func TestParseStatusUID(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    uint32
		wantErr bool
	}{
		{"real uid first", "Name:\tsshd\nUid:\t1000\t0\t0\t0\nGid:\t0\t0\t0\t0\n", 1000, false},
		{"last line without newline", "Name:\tx\nUid:\t33\t33\t33\t33", 33, false},
		{"nobody", "Uid:\t65534\t65534\t65534\t65534\n", 65534, false},
		{"missing", "Name:\tx\n", 0, true},
		{"empty value", "Uid:\n", 0, true},
		{"not a number", "Uid:\tx\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatusUID([]byte(tt.in))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("got %d, %v; want %d, err %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseCmdline(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"argv", "/usr/bin/python3\x00-m\x00http.server\x00", []string{"/usr/bin/python3", "-m", "http.server"}},
		{"empty argument kept", "a\x00\x00b\x00", []string{"a", "", "b"}},
		{"rewritten by the process", "nginx: master process /usr/sbin/nginx", []string{"nginx: master process /usr/sbin/nginx"}},
		{"kernel thread", "", nil},
		{"padding NULs", "redis-server *:6379\x00\x00\x00\x00", []string{"redis-server *:6379"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, parseCmdline([]byte(tt.in))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseCgroup(t *testing.T) {
	id := strings.Repeat("ab", 32)
	tests := []struct {
		name      string
		in        string
		unit      string
		container *Container
		path      string
	}{
		{"v2", "0::/system.slice/nginx.service\n", "nginx.service", nil, "/system.slice/nginx.service"},
		{"v2 docker", "0::/system.slice/docker-" + id + ".scope\n", "", &Container{Runtime: "docker", ID: id}, "/system.slice/docker-" + id + ".scope"},
		{
			"hybrid: v2 line empty, unit in name=systemd",
			"12:name=systemd:/system.slice/ssh.service\n11:memory:/system.slice/ssh.service\n0::/\n",
			"ssh.service", nil, "/system.slice/ssh.service",
		},
		{
			"v1 docker cgroupfs",
			"12:pids:/docker/" + id + "\n11:name=systemd:/docker/" + id + "\n1:cpu,cpuacct:/docker/" + id + "\n",
			"", &Container{Runtime: "docker", ID: id}, "/docker/" + id,
		},
		{
			"container only in a v1 controller",
			"4:memory:/docker/" + id + "\n1:name=systemd:/system.slice/containerd.service\n",
			"containerd.service", &Container{Runtime: "docker", ID: id}, "/system.slice/containerd.service",
		},
		{"nothing known", "4:memory:/process_api/a744692761e79c5e66166a7ca699fe00\n0::/\n", "", nil, "/"},
		{"path with colons", "0::/weird:name/x.service\n", "x.service", nil, "/weird:name/x.service"},
		{"garbage", "nonsense\n::\n", "", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			unit, c, path := parseCgroup([]byte(tt.in))
			if unit != tt.unit || path != tt.path {
				t.Errorf("unit, path = %q, %q; want %q, %q", unit, path, tt.unit, tt.path)
			}
			if diff := cmp.Diff(tt.container, c); diff != "" {
				t.Errorf("container (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseCgroup(f *testing.F) {
	f.Add([]byte("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1_2.slice/cri-containerd-" + strings.Repeat("ab", 32) + ".scope\n"))
	f.Add([]byte("12:name=systemd:/lxc.payload/x\n0::/\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseCgroup(b) // must not panic
	})
}

func TestParseNetNSLink(t *testing.T) {
	if got, err := parseNetNSLink("net:[4026531840]"); err != nil || got != 4026531840 {
		t.Errorf("got %d, %v", got, err)
	}
	for _, bad := range []string{"", "net:[]", "mnt:[1]", "net:[x]", "net:[1"} {
		if _, err := parseNetNSLink(bad); err == nil {
			t.Errorf("parseNetNSLink(%q): no error", bad)
		}
	}
}

func TestParsePasswd(t *testing.T) {
	in := "root:x:0:0:root:/root:/bin/bash\n# comment\n+@nis::::::\nbroken\nbad:x:notanumber:1::/:/bin/sh\nwww-data:x:33:33::/var/www:/usr/sbin/nologin\nalias:x:33:33::/:/bin/false\n"
	got, err := parsePasswd(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint32]string{0: "root", 33: "www-data"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestParseBootTime(t *testing.T) {
	got, err := parseBootTime(strings.NewReader("cpu  1 2 3\nintr 1 2\nbtime 1796000000\nprocesses 3\n"))
	if err != nil || got != 1796000000 {
		t.Errorf("got %d, %v", got, err)
	}
	if _, err := parseBootTime(strings.NewReader("cpu 1\n")); err == nil {
		t.Error("no btime: no error")
	}
}
