package sockets

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// findPort returns the listener on port in the given namespace, if listed.
func findPort(socks []Socket, port uint16, nsIno uint64) (Socket, bool) {
	for _, s := range socks {
		if s.LocalPort == port && s.State == "LISTEN" && s.NetNS.Inode == nsIno {
			return s, true
		}
	}
	return Socket{}, false
}

// A listener inside a namespace made by `ip netns add` is found with the
// namespace's name as its label, by both backends, and its owner too; one
// inside an unnamed namespace (unshare -n) gets "netns:[inode]".
func TestListOtherNamespaces(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("creating and entering network namespaces needs root")
	}
	ipPath, ipErr := exec.LookPath("ip")
	unsharePath, unshareErr := exec.LookPath("unshare")

	t.Run("ip netns", func(t *testing.T) {
		if ipErr != nil {
			t.Skip("ip (iproute2) is not installed")
		}
		name := "portwho-test-" + strconv.Itoa(os.Getpid())
		if out, err := exec.Command(ipPath, "netns", "add", name).CombinedOutput(); err != nil {
			t.Skipf("ip netns add refused here: %v: %s", err, out)
		}
		t.Cleanup(func() {
			if out, err := exec.Command(ipPath, "netns", "del", name).CombinedOutput(); err != nil {
				t.Errorf("ip netns del %s: %v: %s", name, err, out)
			}
		})
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join("/run/netns", name), &st); err != nil {
			t.Fatal(err)
		}
		c := startHelper(t, "listen", nil, ipPath, "netns", "exec", name)
		port := c.port(t)
		for _, backend := range []string{BackendNetlink, BackendProcNet} {
			t.Run(backend, func(t *testing.T) {
				s := &Scanner{Backend: backend}
				r, err := s.Scan(testCtx(t), Query{AllNamespaces: true, TCP: true})
				if err != nil {
					t.Fatal(err)
				}
				got, ok := findPort(r.Sockets, port, st.Ino)
				if !ok {
					t.Fatalf("listener on port %d in netns %s (inode %d) not found; skipped: %v", port, name, st.Ino, r.Skipped)
				}
				if got.NetNS.Label != name || got.NetNS.Host || got.Inode == 0 {
					t.Errorf("got %+v, want label %q, not host, an inode", got, name)
				}
				i := slices.IndexFunc(r.Namespaces, func(n Namespace) bool { return n.NetNS.Inode == st.Ino })
				if i < 0 || r.Namespaces[i].PID == 0 || r.Namespaces[0].NetNS.Inode == st.Ino {
					t.Errorf("namespaces %+v: want %s listed after ours, with a pid", r.Namespaces, name)
				}
				// The host namespace's listing must not contain it.
				host, err := s.List(testCtx(t), Query{TCP: true})
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := findPort(host, port, st.Ino); ok {
					t.Error("namespaced listener shows up in the host-only listing")
				}
				o, err := s.Owners(testCtx(t), map[uint64]struct{}{got.Inode: {}})
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(o.Holders[got.Inode], []int{c.cmd.Process.Pid}) {
					t.Errorf("holders = %v, want [%d]", o.Holders[got.Inode], c.cmd.Process.Pid)
				}
			})
		}
	})

	t.Run("unshare", func(t *testing.T) {
		if unshareErr != nil {
			t.Skip("unshare (util-linux) is not installed")
		}
		if err := exec.Command(unsharePath, "-n", "true").Run(); err != nil {
			t.Skipf("unshare -n refused here: %v", err)
		}
		c := startHelper(t, "listen", nil, unsharePath, "-n")
		port := c.port(t)
		ino, err := nsInode("/proc/" + strconv.Itoa(c.cmd.Process.Pid) + "/ns/net")
		if err != nil {
			t.Fatal(err)
		}
		r, err := (&Scanner{}).Scan(testCtx(t), Query{AllNamespaces: true, TCP: true, Port: port})
		if err != nil {
			t.Fatal(err)
		}
		got, ok := findPort(r.Sockets, port, ino)
		if !ok {
			t.Fatalf("listener on port %d in netns %d not found; skipped: %v", port, ino, r.Skipped)
		}
		if want := "netns:[" + strconv.FormatUint(ino, 10) + "]"; got.NetNS.Label != want {
			t.Errorf("label = %q, want %q", got.NetNS.Label, want)
		}
	})
}

func TestNamespacesHostFirst(t *testing.T) {
	s := &Scanner{}
	ns, err := s.namespaces(true)
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) == 0 || !ns[0].self {
		t.Fatalf("own namespace not first: %+v", ns)
	}
	seen := map[uint64]bool{}
	for _, n := range ns {
		if seen[n.ns.Inode] {
			t.Errorf("namespace %d listed twice", n.ns.Inode)
		}
		seen[n.ns.Inode] = true
	}
	// When pid 1's namespace cannot be read (a sandbox's init), ours is
	// taken for the host's; otherwise only pid 1's is.
	host, err := nsInode("/proc/1/ns/net")
	if err != nil {
		host = ns[0].ns.Inode
	}
	for _, n := range ns {
		if isHost := n.ns.Inode == host; n.ns.Host != isHost || (isHost && n.ns.Label != "host") {
			t.Errorf("namespace %+v: host should be %v", n.ns, isHost)
		}
	}
}
