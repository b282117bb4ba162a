package assess

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/portwho/portwho/internal/process"
	"github.com/portwho/portwho/internal/report"
)

// PackageLookup says which installed package owns each file. Owners gets
// every path of a run at once so that an implementation can answer with
// one pass over its database or one child process, never one per socket.
type PackageLookup interface {
	// Name is the package manager, for evidence ("dpkg", "rpm").
	Name() string
	// Owners maps each owned path to its package; unowned paths are
	// absent.
	Owners(paths []string) (map[string]string, error)
}

// exeUnpackaged: a listener whose binary no package installed was put there
// by hand, a build, or an intruder. Low: self-built and vendor software is
// common; it is context, not an alarm.
func exeUnpackaged(p *process.Process, owners map[string]string, manager string) (report.Finding, bool) {
	if owners == nil || !needsPackage(p.Exe, p.ExeDeleted, p.Container != nil) {
		return report.Finding{}, false
	}
	if _, ok := owners[p.Exe]; ok {
		return report.Finding{}, false
	}
	return report.Finding{
		ID:       IDExeUnpackaged,
		Severity: report.SeverityLow,
		Title:    "executable not installed by any package",
		Why:      "nothing records where it came from or keeps it updated",
		Evidence: p.Exe + ": no " + manager + " package owns it",
	}, true
}

// needsPackage: a deleted binary is already high and a container's files
// are not in the host's package database, so neither is looked up.
func needsPackage(exe string, deleted, inContainer bool) bool {
	return exe != "" && strings.HasPrefix(exe, "/") && !deleted && !inContainer
}

// packageOwners looks up, in one batch, every executable that
// exe-unpackaged will ask about; nil when no lookup is possible.
func (a *Assessor) packageOwners(socks []report.Socket) map[string]string {
	if slices.Contains(a.Config.Ignore, IDExeUnpackaged) {
		return nil
	}
	if a.Packages == nil {
		a.note("no package manager found (dpkg or rpm): exe-unpackaged not judged")
		return nil
	}
	seen := map[string]bool{}
	var paths []string
	for i := range socks {
		for j := range socks[i].Processes {
			p := &socks[i].Processes[j]
			if needsPackage(p.Exe, p.ExeDeleted, p.Container != nil) && !seen[p.Exe] {
				seen[p.Exe] = true
				paths = append(paths, p.Exe)
			}
		}
	}
	if len(paths) == 0 {
		return map[string]string{}
	}
	owners, err := a.Packages.Owners(paths)
	if err != nil {
		a.note("%s lookup failed, exe-unpackaged not judged: %v", a.Packages.Name(), err)
		return nil
	}
	return owners
}

// DetectPackages picks the host's package database under root ("/" on a
// live system): dpkg's if /var/lib/dpkg/info exists, else rpm if the rpm
// command is installed, else nil.
func DetectPackages(root string) PackageLookup {
	info := filepath.Join(root, "var/lib/dpkg/info")
	if fi, err := os.Stat(info); err == nil && fi.IsDir() {
		return &Dpkg{InfoDir: info}
	}
	if p, err := exec.LookPath("rpm"); err == nil && root == "/" {
		return &RPM{Path: p}
	}
	return nil
}

// Dpkg reads dpkg's file lists (/var/lib/dpkg/info/PKG.list) directly: one
// sequential pass over the database for all wanted paths, instead of a
// `dpkg -S` that would do the same pass plus a fork. Answers are cached.
type Dpkg struct {
	InfoDir string
	// CacheFile, when set, keeps answers between runs, valid while the
	// database directory's modification time is unchanged (dpkg creates,
	// renames or removes a .list there on every install or removal). A
	// warm run then reads one small file instead of the whole database.
	CacheFile string
	cache     map[string]string // path -> package, "" when unowned
	loaded    bool
}

// Name implements PackageLookup.
func (d *Dpkg) Name() string { return "dpkg" }

// Owners implements PackageLookup.
func (d *Dpkg) Owners(paths []string) (map[string]string, error) {
	if d.cache == nil {
		d.cache = make(map[string]string)
	}
	stamp := d.stamp()
	if !d.loaded {
		d.loaded = true
		d.loadCache(stamp)
	}
	// want maps every spelling dpkg may use (see usrMergeAliases) to the
	// paths asked for; /bin/bash and /usr/bin/bash share spellings.
	want := make(map[string][]string)
	for _, p := range paths {
		if _, ok := d.cache[p]; ok {
			continue
		}
		for _, a := range usrMergeAliases(p) {
			if !slices.Contains(want[a], p) {
				want[a] = append(want[a], p)
			}
		}
	}
	if len(want) > 0 {
		found, err := scanDpkgLists(d.InfoDir, want)
		if err != nil {
			return nil, err
		}
		for _, ps := range want {
			for _, p := range ps {
				d.cache[p] = found[p]
			}
		}
		d.saveCache(stamp)
	}
	out := make(map[string]string, len(paths))
	for _, p := range paths {
		if pkg := d.cache[p]; pkg != "" {
			out[p] = pkg
		}
	}
	return out, nil
}

// dpkgCache is the CacheFile's JSON form.
type dpkgCache struct {
	InfoDir string            `json:"info_dir"`
	Stamp   int64             `json:"stamp"`
	Owners  map[string]string `json:"owners"`
}

// maxCacheEntries bounds the file: a host runs a few hundred executables.
const maxCacheEntries = 4096

// stamp is the database directory's modification time, 0 if unknown
// (which disables the cache).
func (d *Dpkg) stamp() int64 {
	fi, err := os.Stat(d.InfoDir)
	if err != nil {
		return 0
	}
	return fi.ModTime().UnixNano()
}

// loadCache takes answers from CacheFile when it describes this database
// as it is now. A file someone else could have written is ignored: it
// could mark a dropped binary as packaged.
func (d *Dpkg) loadCache(stamp int64) {
	if d.CacheFile == "" || stamp == 0 || !privateFile(d.CacheFile) {
		return
	}
	f, err := os.Open(d.CacheFile)
	if err != nil {
		return
	}
	defer f.Close()
	var c dpkgCache
	if json.NewDecoder(io.LimitReader(f, 1<<20)).Decode(&c) != nil || c.Stamp != stamp || c.InfoDir != d.InfoDir {
		return
	}
	for p, pkg := range c.Owners {
		d.cache[p] = pkg
	}
}

// saveCache writes what is known, atomically (temp file and rename), and
// quietly gives up on any error: the cache only saves time.
func (d *Dpkg) saveCache(stamp int64) {
	if d.CacheFile == "" || stamp == 0 || len(d.cache) > maxCacheEntries {
		return
	}
	b, err := json.Marshal(dpkgCache{InfoDir: d.InfoDir, Stamp: stamp, Owners: d.cache})
	if err != nil {
		return
	}
	dir := filepath.Dir(d.CacheFile)
	if os.MkdirAll(dir, 0o700) != nil {
		return
	}
	tmp, err := os.CreateTemp(dir, ".dpkg-owners-*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if werr != nil || cerr != nil || os.Rename(tmp.Name(), d.CacheFile) != nil {
		os.Remove(tmp.Name())
	}
}

// usrMergeAliases: on a /usr-merged system /bin is a symlink to /usr/bin,
// so /proc shows /usr/bin/bash while dpkg may list /bin/bash (and the other
// way round on a system that is not merged).
func usrMergeAliases(p string) []string {
	out := []string{p}
	for _, d := range [...]string{"bin", "sbin", "lib", "lib32", "lib64", "libx32"} {
		if rest, ok := strings.CutPrefix(p, "/usr/"+d+"/"); ok {
			return append(out, "/"+d+"/"+rest)
		}
		if rest, ok := strings.CutPrefix(p, "/"+d+"/"); ok {
			return append(out, "/usr/"+d+"/"+rest)
		}
	}
	return out
}

// scanDpkgLists reads every *.list in dir once and returns wanted path ->
// package for the spellings found. The read buffer is reused across files:
// a desktop's lists hold ~300,000 lines, and none of them is kept.
func scanDpkgLists(dir string, want map[string][]string) (map[string]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read dpkg database: %w", err)
	}
	found := make(map[string]string)
	var buf bytes.Buffer
	for _, e := range entries {
		name := e.Name()
		pkg, ok := strings.CutSuffix(name, ".list")
		if !ok {
			continue
		}
		buf.Reset()
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // removed by a concurrent dpkg run
			}
			return nil, fmt.Errorf("read dpkg database: %w", err)
		}
		_, err = buf.ReadFrom(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("read dpkg database: %w", err)
		}
		matchLines(buf.Bytes(), want, found, pkg)
	}
	return found, nil
}

// matchLines records pkg for each line of a file list that is wanted. The
// map lookup with string(line) does not allocate.
func matchLines(data []byte, want map[string][]string, found map[string]string, pkg string) {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		var line []byte
		if i < 0 {
			line, data = data, nil
		} else {
			line, data = data[:i], data[i+1:]
		}
		for _, p := range want[string(line)] {
			if _, dup := found[p]; !dup {
				found[p] = strings.TrimSuffix(pkg, ":"+archOf(pkg))
			}
		}
	}
}

// archOf returns the ":arch" qualifier of a multi-arch list name
// ("libc6:amd64" -> "amd64").
func archOf(pkg string) string {
	if _, a, ok := strings.Cut(pkg, ":"); ok {
		return a
	}
	return ""
}

// RPM asks `rpm -qf` about all paths in one child process.
type RPM struct {
	Path    string // the rpm binary
	Timeout time.Duration
	cache   map[string]string
}

// Name implements PackageLookup.
func (r *RPM) Name() string { return "rpm" }

// Owners implements PackageLookup.
func (r *RPM) Owners(paths []string) (map[string]string, error) {
	if r.cache == nil {
		r.cache = make(map[string]string)
	}
	var ask []string
	for _, p := range paths {
		if _, ok := r.cache[p]; !ok {
			ask = append(ask, p)
		}
	}
	if len(ask) > 0 {
		timeout := r.Timeout
		if timeout == 0 {
			timeout = 30 * time.Second
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		args := append([]string{"-qf", "--queryformat", "%{NAME}\n", "--"}, ask...)
		var out bytes.Buffer
		cmd := exec.CommandContext(ctx, r.Path, args...)
		// One pipe for both streams keeps "not owned" and error lines in
		// the order of the paths asked.
		cmd.Stdout = &out
		cmd.Stderr = &out
		// rpm exits 1 when some file is unowned; the output still answers.
		runErr := cmd.Run()
		got, err := parseRPMQueryFile(ask, &out)
		if err != nil {
			if runErr != nil {
				return nil, fmt.Errorf("rpm -qf: %w", runErr)
			}
			return nil, err
		}
		for _, p := range ask {
			r.cache[p] = got[p]
		}
	}
	out := make(map[string]string, len(paths))
	for _, p := range paths {
		if pkg := r.cache[p]; pkg != "" {
			out[p] = pkg
		}
	}
	return out, nil
}

// parseRPMQueryFile reads `rpm -qf --queryformat '%{NAME}\n' paths...`:
// one line per path, in order, either a package name or "file X is not
// owned by any package" (or "error: file X: No such file or directory").
func parseRPMQueryFile(paths []string, r io.Reader) (map[string]string, error) {
	sc := bufio.NewScanner(r)
	out := make(map[string]string)
	i := 0
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if i >= len(paths) {
			return nil, fmt.Errorf("rpm -qf: more answers than files asked (%q)", line)
		}
		if !strings.HasPrefix(line, "file ") && !strings.HasPrefix(line, "error:") && !strings.ContainsAny(line, " /") {
			out[paths[i]] = line
		}
		i++
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("rpm -qf: %w", err)
	}
	if i != len(paths) {
		return nil, fmt.Errorf("rpm -qf: %d answers for %d files", i, len(paths))
	}
	return out, nil
}
