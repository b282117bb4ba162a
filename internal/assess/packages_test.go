package assess

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestDpkgRealDatabase asks this machine's dpkg database about files every
// Debian system has. /usr/bin/ls is what /proc shows on a /usr-merged
// system while coreutils.list says /bin/ls, so it exercises the aliasing.
func TestDpkgRealDatabase(t *testing.T) {
	if _, err := os.Stat("/var/lib/dpkg/info/coreutils.list"); err != nil {
		t.Skip("no dpkg database with coreutils on this machine")
	}
	unowned := filepath.Join(t.TempDir(), "dropped")
	if err := os.WriteFile(unowned, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	d := DetectPackages("/")
	if d == nil || d.Name() != "dpkg" {
		t.Fatalf("DetectPackages = %v, want dpkg", d)
	}
	got, err := d.Owners([]string{"/usr/bin/ls", "/bin/bash", "/usr/bin/bash", unowned})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"/usr/bin/ls": "coreutils", "/bin/bash": "bash", "/usr/bin/bash": "bash"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("owners (-want +got):\n%s", diff)
	}
	// A second run answers from the cache, including "unowned".
	dp := d.(*Dpkg)
	dp.InfoDir = "/nonexistent"
	got, err = d.Owners([]string{"/usr/bin/ls", unowned})
	if err != nil {
		t.Fatalf("cached lookup read the database again: %v", err)
	}
	if got["/usr/bin/ls"] != "coreutils" || got[unowned] != "" {
		t.Errorf("cached owners = %v", got)
	}
}

func TestDpkgListsFixture(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("bash.list", "/.\n/bin\n/bin/bash\n/usr/share/doc/bash\n")
	write("libc-bin.list", "/.\n/sbin/ldconfig\n/usr/bin/getent")
	write("openssh-server.list", "/usr/sbin/sshd\n")
	write("libfoo1:amd64.list", "/usr/lib/x86_64-linux-gnu/foo-helper\n")
	write("bash.md5sums", "/usr/bin/notreally\n")
	d := &Dpkg{InfoDir: dir}
	got, err := d.Owners([]string{"/usr/bin/bash", "/usr/sbin/ldconfig", "/usr/bin/getent",
		"/usr/sbin/sshd", "/sbin/sshd", "/lib/x86_64-linux-gnu/foo-helper", "/usr/bin/notreally", "/opt/x"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"/usr/bin/bash": "bash", "/usr/sbin/ldconfig": "libc-bin", "/usr/bin/getent": "libc-bin",
		"/usr/sbin/sshd": "openssh-server", "/sbin/sshd": "openssh-server",
		"/lib/x86_64-linux-gnu/foo-helper": "libfoo1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("owners (-want +got):\n%s", diff)
	}
}

func TestParseRPMQueryFile(t *testing.T) {
	paths := []string{"/usr/sbin/sshd", "/tmp/x", "/usr/bin/bash", "/gone"}
	tests := []struct {
		name    string
		out     string
		want    map[string]string
		wantErr string
	}{
		{
			name: "owned, unowned and missing",
			out: "openssh-server\nfile /tmp/x is not owned by any package\nbash\n" +
				"error: file /gone: No such file or directory\n",
			want: map[string]string{"/usr/sbin/sshd": "openssh-server", "/usr/bin/bash": "bash"},
		},
		{name: "short", out: "openssh-server\n", wantErr: "1 answers for 4 files"},
		{name: "long", out: "a\nb\nc\nd\ne\n", wantErr: "more answers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRPMQueryFile(paths, strings.NewReader(tt.out))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseRPMQueryFile(f *testing.F) {
	f.Add("bash\nfile /x is not owned by any package\n")
	f.Add("error: file /gone: No such file or directory\n")
	f.Fuzz(func(t *testing.T, out string) {
		paths := []string{"/a", "/b"}
		got, err := parseRPMQueryFile(paths, strings.NewReader(out))
		if err != nil {
			return
		}
		for p := range got {
			if p != "/a" && p != "/b" {
				t.Fatalf("answer for a path not asked: %q", p)
			}
		}
	})
}

func TestUsrMergeAliases(t *testing.T) {
	tests := map[string][]string{
		"/usr/bin/bash":         {"/usr/bin/bash", "/bin/bash"},
		"/sbin/init":            {"/sbin/init", "/usr/sbin/init"},
		"/usr/lib64/ld.so":      {"/usr/lib64/ld.so", "/lib64/ld.so"},
		"/usr/local/bin/x":      {"/usr/local/bin/x"},
		"/usr/libexec/x":        {"/usr/libexec/x"},
		"/usr/lib/postgresql/x": {"/usr/lib/postgresql/x", "/lib/postgresql/x"},
	}
	for in, want := range tests {
		t.Run(in, func(t *testing.T) {
			if diff := cmp.Diff(want, usrMergeAliases(in)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// BenchmarkDpkgOwners is one cold run's lookup: a fresh Dpkg (empty cache)
// scanning this machine's whole database for a host's worth of executables.
func BenchmarkDpkgOwners(b *testing.B) {
	if _, err := os.Stat("/var/lib/dpkg/info"); err != nil {
		b.Skip("no dpkg database")
	}
	paths := []string{"/usr/bin/bash", "/usr/bin/ls", "/usr/sbin/sshd", "/usr/sbin/nginx",
		"/usr/lib/systemd/systemd-resolved", "/usr/sbin/chronyd", "/usr/sbin/cupsd",
		"/usr/bin/python3.11", "/usr/local/bin/none", "/opt/app/app"}
	b.ReportAllocs()
	for b.Loop() {
		d := &Dpkg{InfoDir: "/var/lib/dpkg/info"}
		if _, err := d.Owners(paths); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDpkgCacheFile: answers persist between runs while the database
// directory is unchanged, and are dropped when it changes or when the
// cache file could have been written by someone else.
func TestDpkgCacheFile(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "openssh-server.list")
	if err := os.WriteFile(list, []byte("/usr/sbin/sshd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(t.TempDir(), "sub", "dpkg-owners.json")
	owners := func() map[string]string {
		t.Helper()
		d := &Dpkg{InfoDir: dir, CacheFile: cache}
		got, err := d.Owners([]string{"/usr/sbin/sshd"})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := owners(); got["/usr/sbin/sshd"] != "openssh-server" {
		t.Fatalf("first run: %v", got)
	}
	// Remove the list but keep the directory's time: the cache answers.
	if err := os.Remove(list); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(dir, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if got := owners(); got["/usr/sbin/sshd"] != "openssh-server" {
		t.Errorf("warm run did not use the cache: %v", got)
	}
	// A cache others may write is not believed.
	if err := os.Chmod(cache, 0o666); err != nil {
		t.Fatal(err)
	}
	if got := owners(); len(got) != 0 {
		t.Errorf("world-writable cache believed: %v", got)
	}
	os.Chmod(cache, 0o600)
	// The database changed: the cache is stale.
	later := fi.ModTime().Add(time.Second)
	if err := os.Chtimes(dir, later, later); err != nil {
		t.Fatal(err)
	}
	if got := owners(); len(got) != 0 {
		t.Errorf("stale cache used after the database changed: %v", got)
	}
}
