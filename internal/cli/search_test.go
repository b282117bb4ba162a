package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portwho/portwho/internal/registry"
)

func TestSearchRun(t *testing.T) {
	tests := []struct {
		name      string
		query     string
		limit     int
		wantCode  int
		wantLines []string // first lines of the output, in order
		wantTail  string
	}{
		{"exact name first", "mdns", 3, ExitOK, []string{
			"5353/tcp  mdns           Multicast DNS",
			"5353/udp  mdns           Multicast DNS",
			"5354/tcp  mdnsresponder  Multicast DNS Responder IPC",
		}, "(first 3 matches; --limit N for more)\n"},
		{"description words", "mcs fastmail", 5, ExitOK, []string{
			"3302/tcp  mcs-fastmail  MCS Fastmail",
			"3302/udp  mcs-fastmail  MCS Fastmail",
		}, ""},
		{"assignee", "Patti Jo Newsom", 5, ExitOK, []string{
			"3302/tcp  mcs-fastmail  MCS Fastmail",
			"3302/udp  mcs-fastmail  MCS Fastmail",
		}, ""},
		{"nothing", "qqqqzzzz", 5, ExitNotFound, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			io, out, errOut := testIO()
			err := searchRun(&SearchOptions{IO: io, Registry: embeddedRegistry, Query: tt.query, Limit: tt.limit})
			if got, _ := exitCode(err); got != tt.wantCode {
				t.Fatalf("exit code = %d (%v), want %d", got, err, tt.wantCode)
			}
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if tt.wantLines == nil {
				if out.Len() != 0 || !strings.Contains(errOut.String(), "nothing in the registry matches") {
					t.Fatalf("stdout %q stderr %q, want only a message on stderr", out, errOut)
				}
				return
			}
			if diff := cmp.Diff(tt.wantLines, lines[:min(len(lines), len(tt.wantLines))]); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
			if tt.wantTail != "" && !strings.HasSuffix(out.String(), tt.wantTail) {
				t.Errorf("output does not end with %q:\n%s", tt.wantTail, out)
			}
		})
	}
}

func TestSearchJSON(t *testing.T) {
	io, out, _ := testIO()
	if err := searchRun(&SearchOptions{IO: io, Registry: embeddedRegistry, Query: "ssh", Limit: 2, JSON: true}); err != nil {
		t.Fatal(err)
	}
	var got struct {
		RegistryUpdated string           `json:"registry_updated"`
		Query           string           `json:"query"`
		Entries         []registry.Entry `json:"entries"`
		Truncated       bool             `json:"truncated"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.RegistryUpdated != "2025-12-15" || got.Query != "ssh" || !got.Truncated || len(got.Entries) != 2 ||
		got.Entries[0].Service != "ssh" || got.Entries[0].Port != 22 || got.Entries[0].Protocol != "tcp" {
		t.Fatalf("search --json = %+v", got)
	}
}

func TestSearchCommandNeedsWords(t *testing.T) {
	io, _, _ := testIO()
	cmd := NewCmdSearch(&Factory{IO: io}, func(*SearchOptions) error { t.Fatal("ran without words"); return nil })
	cmd.SetArgs([]string{})
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	if err := cmd.Execute(); infoExit(err) != ExitError {
		t.Fatalf("search with no words: %v, want a usage error", err)
	}
}
