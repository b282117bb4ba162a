package report

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"runtime"
	"slices"
	"sync"

	"github.com/portwho/portwho/internal/process"
	"github.com/portwho/portwho/internal/registry"
	"github.com/portwho/portwho/internal/sockets"
)

// Collector joins the stages of the port report: the kernel's sockets, the
// processes holding them and the registry's name for each port.
type Collector struct {
	Sockets *sockets.Scanner
	// Procs reads owning processes; one Reader per run, so its cache
	// serves every socket a process holds and every shared parent.
	Procs *process.Reader
	// Registry names the ports; nil leaves Service empty.
	Registry *registry.Registry
}

// Collect lists the sockets q selects with their owning processes and
// registered service names, sorted by protocol, port, address and
// namespace. Processes that exit during the scan are left out; they are
// not an error. Findings are left empty for assessment to fill.
func (c *Collector) Collect(ctx context.Context, q sockets.Query) ([]Socket, error) {
	if q.Port != 0 {
		return c.CollectPorts(ctx, q, []uint16{q.Port})
	}
	return c.CollectPorts(ctx, q, nil)
}

// CollectPorts is Collect for sockets on any of ports (q.Port is ignored;
// no ports means any port), as a service name with several ports asks. The
// kernel filters each port, and owners are found in one walk for all.
func (c *Collector) CollectPorts(ctx context.Context, q sockets.Query, ports []uint16) ([]Socket, error) {
	scanner := c.Sockets
	if scanner == nil {
		scanner = &sockets.Scanner{}
	}
	procs := c.Procs
	if procs == nil {
		procs = &process.Reader{}
	}
	var socks []sockets.Socket
	if len(ports) == 0 {
		q.Port = 0
		var err error
		if socks, err = scanner.List(ctx, q); err != nil {
			return nil, fmt.Errorf("list sockets: %w", err)
		}
	} else {
		type key struct {
			proto      string
			netns      uint64
			local, rem netip.AddrPort
			inode      uint64
		}
		seen := make(map[key]bool)
		for _, p := range ports {
			q.Port = p
			got, err := scanner.List(ctx, q)
			if err != nil {
				return nil, fmt.Errorf("list sockets: %w", err)
			}
			// A connection from one of the ports to another matches both.
			for _, s := range got {
				k := key{s.Protocol, s.NetNS.Inode, netip.AddrPortFrom(s.LocalAddr, s.LocalPort), netip.AddrPortFrom(s.RemoteAddr, s.RemotePort), s.Inode}
				if !seen[k] {
					seen[k] = true
					socks = append(socks, s)
				}
			}
		}
	}
	inodes := make(map[uint64]struct{}, len(socks))
	for _, s := range socks {
		if s.Inode != 0 {
			inodes[s.Inode] = struct{}{}
		}
	}
	owners, err := scanner.Owners(ctx, inodes)
	if err != nil {
		return nil, fmt.Errorf("find socket owners: %w", err)
	}

	byPID := readProcesses(procs, socks, owners)
	services := c.services(socks)
	out := make([]Socket, len(socks))
	for i, s := range socks {
		r := Socket{Socket: s, Processes: []process.Process{}, Findings: []Finding{}}
		pids := owners.Holders[s.Inode]
		for _, pid := range pids {
			if p := byPID[pid]; p != nil { // nil: it exited mid-scan
				r.Processes = append(r.Processes, *p)
			}
		}
		r.Owner = ownerOf(s, len(pids), len(r.Processes), owners)
		r.Service = c.service(services, s.LocalPort, s.Protocol)
		out[i] = r
	}
	labelContainers(out)
	// compareSockets is a total order (it ends on the inode), so an
	// unstable sort is deterministic; the stable one moved 200-byte
	// structs around enough to show in profiles of --all.
	slices.SortFunc(out, compareSockets)
	return out, nil
}

// readProcesses reads every process holding one of socks, each once, a few
// at a time: with hundreds of owners this is a third of a run, all of it
// system calls that cores can make side by side.
func readProcesses(procs *process.Reader, socks []sockets.Socket, owners sockets.Owners) map[int]*process.Process {
	var pids []int
	byPID := make(map[int]*process.Process)
	for _, s := range socks {
		for _, pid := range owners.Holders[s.Inode] {
			if _, ok := byPID[pid]; !ok {
				byPID[pid] = nil
				pids = append(pids, pid)
			}
		}
	}
	read := func(pid int) *process.Process {
		p, err := procs.Get(pid)
		switch {
		case err == nil:
			return p
		case errors.Is(err, fs.ErrNotExist):
			return nil
		default:
			// A process we cannot parse is reported without its
			// details rather than failing the whole listing.
			return &process.Process{PID: pid}
		}
	}
	workers := min(runtime.GOMAXPROCS(0), 4, len(pids)/32+1)
	if workers <= 1 {
		for _, pid := range pids {
			byPID[pid] = read(pid)
		}
		return byPID
	}
	got := make([]*process.Process, len(pids))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(pids); i += workers {
				got[i] = read(pids[i])
			}
		})
	}
	wg.Wait()
	for i, pid := range pids {
		byPID[pid] = got[i]
	}
	return byPID
}

// ownerOf says how much is known about who holds s.
func ownerOf(s sockets.Socket, holders, found int, o sockets.Owners) Owner {
	switch {
	case found > 0:
		return OwnerKnown
	case s.Inode == 0:
		// No file behind it (TIME-WAIT, kernel sockets): nobody can hold it.
		return OwnerNone
	case holders > 0:
		// Its holders exited between the fd walk and reading them.
		return OwnerUnknown
	case !o.Root:
		return OwnerHidden
	case o.Unreadable > 0:
		return OwnerUnknown
	default:
		return OwnerNone
	}
}

type serviceKey struct {
	port  uint16
	proto string
}

// services names, in one pass, the ports that many sockets are on. A
// registry lookup decodes whole records (a few microseconds each); a host
// with thousands of listeners or connections on distinct ports would pay it
// per port, so dense clusters of ports are named from one scan of the
// records between their lowest and highest port instead. Ports left out
// are looked up one by one by service.
func (c *Collector) services(socks []sockets.Socket) map[serviceKey]string {
	cache := make(map[serviceKey]string)
	if c.Registry == nil {
		return cache
	}
	byProto := make(map[string][]uint16)
	seen := make(map[serviceKey]bool)
	for _, s := range socks {
		k := serviceKey{s.LocalPort, s.Protocol}
		if s.LocalPort != 0 && !seen[k] {
			seen[k] = true
			byProto[s.Protocol] = append(byProto[s.Protocol], s.LocalPort)
		}
	}
	for proto, ports := range byProto {
		slices.Sort(ports)
		for _, cl := range clusters(ports) {
			if len(cl) < minBulkPorts {
				continue
			}
			for p, name := range namesBetween(c.Registry, cl, proto) {
				cache[serviceKey{p, proto}] = name
			}
			for _, p := range cl {
				if _, ok := cache[serviceKey{p, proto}]; !ok {
					cache[serviceKey{p, proto}] = ""
				}
			}
		}
	}
	return cache
}

// minBulkPorts is how many ports a cluster needs before one scan of its
// records beats looking each port up.
const minBulkPorts = 32

// clusters splits sorted ports where they are more than 256 apart, so a
// scan never decodes long stretches of records no socket is on.
func clusters(ports []uint16) [][]uint16 {
	var out [][]uint16
	start := 0
	for i := 1; i <= len(ports); i++ {
		if i == len(ports) || ports[i]-ports[i-1] > 256 {
			out = append(out, ports[start:i])
			start = i
		}
	}
	return out
}

// namesBetween gives each of the sorted ports that has a registered name
// for proto the name Registry.Port would put first: of the named records
// covering it, the one with the lowest start, then the lowest end, then the
// first in the registry's order (which Between keeps).
func namesBetween(reg *registry.Registry, ports []uint16, proto string) map[uint16]string {
	type best struct {
		lo, hi uint16
		name   string
	}
	found := make(map[uint16]best)
	es, _ := reg.Between(ports[0], ports[len(ports)-1], proto, 0)
	for _, e := range es {
		if e.Service == "" || !e.HasPort {
			continue
		}
		i, _ := slices.BinarySearch(ports, e.Port)
		for ; i < len(ports) && ports[i] <= e.PortEnd; i++ {
			b, ok := found[ports[i]]
			if !ok || e.Port < b.lo || e.Port == b.lo && e.PortEnd < b.hi {
				found[ports[i]] = best{e.Port, e.PortEnd, e.Service}
			}
		}
	}
	out := make(map[uint16]string, len(found))
	for p, b := range found {
		out[p] = b.name
	}
	return out
}

// service is the registered name for port/proto, cached per run: a lookup
// decodes whole records, and thousands of sockets share a handful of ports.
func (c *Collector) service(cache map[serviceKey]string, port uint16, proto string) string {
	if c.Registry == nil || port == 0 {
		return ""
	}
	k := serviceKey{port, proto}
	if name, ok := cache[k]; ok {
		return name
	}
	name := ""
	for _, e := range c.Registry.Port(port, proto) {
		// Exact registrations sort before the ranges that cover the
		// port; reserved and unassigned records have no name.
		if e.Service != "" {
			name = e.Service
			break
		}
	}
	cache[k] = name
	return name
}

// labelContainers names each non-host namespace after the container whose
// processes hold sockets in it: "docker:3f2a9c1b7e4d" says more than an
// inode. The first container by pid wins, so the label is deterministic.
func labelContainers(socks []Socket) {
	type found struct {
		pid   int
		label string
	}
	best := make(map[uint64]found)
	for _, s := range socks {
		for _, p := range s.Processes {
			if p.Container == nil || p.NetNS == 0 || p.NetNS != s.NetNS.Inode || s.NetNS.Host {
				continue
			}
			if f, ok := best[p.NetNS]; !ok || p.PID < f.pid {
				best[p.NetNS] = found{p.PID, ContainerLabel(p.Container)}
			}
		}
	}
	for i := range socks {
		if f, ok := best[socks[i].NetNS.Inode]; ok && !socks[i].NetNS.Host {
			socks[i].NetNS.Label = f.label
		}
	}
}

// ContainerLabel names a container for people: its name when the cgroup
// gave one, else runtime:short-id as docker ps shows it, else its pod.
func ContainerLabel(c *process.Container) string {
	if c == nil {
		return ""
	}
	switch {
	case c.Name != "":
		return c.Runtime + ":" + c.Name
	case c.ID != "":
		return c.Runtime + ":" + c.ID[:min(12, len(c.ID))]
	case c.Pod != "":
		return "pod:" + c.Pod
	}
	return c.Runtime
}

// compareSockets orders by protocol, local port, local address, namespace,
// then the rest, so listings are stable between runs.
func compareSockets(a, b Socket) int {
	return cmp.Or(
		cmp.Compare(a.Protocol, b.Protocol),
		cmp.Compare(a.LocalPort, b.LocalPort),
		a.LocalAddr.Compare(b.LocalAddr),
		cmp.Compare(a.NetNS.Inode, b.NetNS.Inode),
		a.RemoteAddr.Compare(b.RemoteAddr),
		cmp.Compare(a.RemotePort, b.RemotePort),
		cmp.Compare(a.State, b.State),
		cmp.Compare(a.Inode, b.Inode),
	)
}
