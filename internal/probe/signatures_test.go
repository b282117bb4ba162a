package probe

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestSignatureExamples checks every signature against its own examples:
// each must be named by that signature (the first of its service to
// match, so order mistakes show) with the stated product and version.
func TestSignatureExamples(t *testing.T) {
	sigs, err := DefaultSignatures()
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs.List()) < 30 {
		t.Errorf("only %d signatures", len(sigs.List()))
	}
	for _, sig := range sigs.List() {
		t.Run(sig.ID, func(t *testing.T) {
			if len(sig.Examples) == 0 {
				t.Fatal("no examples")
			}
			for _, ex := range sig.Examples {
				m, ok := sigs.Match(sig.Service, ex.Text)
				if sig.Send != "" {
					m, ok = sigs.MatchReply(sig.transport(), sig.Send, ex.Text)
				}
				if !ok {
					t.Errorf("%q: no match", ex.Text)
					continue
				}
				got := SignatureExample{Text: ex.Text, Product: m.Product, Version: m.Version, Info: m.Info}
				if d := cmp.Diff(ex, got); d != "" {
					t.Errorf("(-want +got)\n%s", d)
				}
				want := sig.Service
				if sig.As != "" {
					want = sig.As
				}
				if m.Service != want {
					t.Errorf("%q reported as %q, want %q", ex.Text, m.Service, want)
				}
				if m.Method != "signature:"+sig.ID {
					t.Errorf("%q named by %s, want signature:%s", ex.Text, m.Method, sig.ID)
				}
			}
		})
	}
}

func TestParseSignaturesRejects(t *testing.T) {
	for name, data := range map[string]string{
		"not json":     `{`,
		"bad regexp":   `[{"id":"x","service":"http","pattern":"(","product":"X"}]`,
		"no product":   `[{"id":"x","service":"http","pattern":"x"}]`,
		"duplicate id": `[{"id":"x","service":"http","pattern":"x","product":"X"},{"id":"x","service":"ssh","pattern":"y","product":"Y"}]`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseSignatures([]byte(data)); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func TestSignaturesIdentify(t *testing.T) {
	sigs, err := DefaultSignatures()
	if err != nil {
		t.Fatal(err)
	}
	m, ok := sigs.Identify("(vsFTPd 3.0.3)")
	if !ok || m.Service != "ftp" || m.Product != "vsftpd" {
		t.Errorf("Identify = %+v, %v", m, ok)
	}
	if _, ok := sigs.Match("http", "OpenSSH_9.2p1"); ok {
		t.Error("an ssh signature matched http evidence")
	}
}
