package probe

import (
	"slices"
	"testing"
)

// Every binary and UDP protocol is registered once, under nmap's service
// name, with a probe and its usual ports.
func TestBinaryProtocolsRegistered(t *testing.T) {
	want := []string{
		"redis/tcp", "memcache/tcp", "memcache/udp", "postgresql/tcp", "mysql/tcp", "mongodb/tcp",
		"mqtt/tcp", "amqp/tcp", "ldap/tcp", "vnc/tcp", "ms-wbt-server/tcp", "domain/tcp",
		"domain/udp", "ntp/udp", "snmp/udp", "smux/tcp",
		"stun/udp", "stun/tcp", "radius/udp", "tftp/udp", "openvpn/udp", "openvpn/tcp", "netbios-ns/udp", "murmur/udp",
	}
	seen := map[string]int{}
	for _, p := range Protocols() {
		key := p.Name + "/" + p.Transport
		seen[key]++
		if slices.Contains(want, key) && (p.Probe == nil || len(p.Ports) == 0 || p.Wave < 1 || p.Wave > 2) {
			t.Errorf("%s: probe %v, ports %v, wave %d", key, p.Probe != nil, p.Ports, p.Wave)
		}
	}
	for _, k := range want {
		if seen[k] != 1 {
			t.Errorf("%s registered %d times, want once", k, seen[k])
		}
	}
}
