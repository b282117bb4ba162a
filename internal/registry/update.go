package registry

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// DefaultURL is IANA's official address of the registry's XML.
const DefaultURL = "https://www.iana.org/assignments/service-names-port-numbers/service-names-port-numbers.xml"

// MaxDownload caps what an update reads; the real XML is about 4 MB.
const MaxDownload = 32 << 20

// UpdateOptions says where an update comes from and where it goes.
type UpdateOptions struct {
	// From is a file path or an http(s) URL; "" means DefaultURL.
	From string
	// CacheDir receives CacheFile.
	CacheDir string
	// Client fetches URLs; nil means a client that refuses redirects from
	// https to plain http. The caller's context carries the deadline.
	Client *http.Client
	// MaxBytes caps the download; 0 means MaxDownload.
	MaxBytes int64
}

// Update fetches the registry's XML, checks it (it parses, holds at least
// MinRecords records, 80/tcp is http) and stores its compact form under
// CacheDir atomically. On any error the cache is left as it was.
func Update(ctx context.Context, o UpdateOptions) (*Registry, error) {
	if o.CacheDir == "" {
		return nil, errors.New("update registry: no cache directory")
	}
	from := o.From
	if from == "" {
		from = DefaultURL
	}
	max := o.MaxBytes
	if max <= 0 {
		max = MaxDownload
	}
	raw, err := fetch(ctx, o.Client, from, max)
	if err != nil {
		return nil, err
	}
	snap, err := ParseXML(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	data, err := Encode(snap)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	r, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	path, err := install(o.CacheDir, data)
	if err != nil {
		return nil, err
	}
	r.source = path
	return r, nil
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://")
}

// fetch reads a file or URL, refusing more than max bytes.
func fetch(ctx context.Context, client *http.Client, from string, max int64) ([]byte, error) {
	var body io.Reader
	if isURL(from) {
		if client == nil {
			client = &http.Client{CheckRedirect: noDowngrade}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, from, nil)
		if err != nil {
			return nil, fmt.Errorf("download registry: %w", err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("download registry: %w", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("download registry: %s: %s", from, resp.Status)
		}
		if resp.ContentLength > max {
			return nil, fmt.Errorf("download registry: %s is %d bytes, more than the %d-byte cap", from, resp.ContentLength, max)
		}
		body = resp.Body
	} else {
		f, err := os.Open(from)
		if err != nil {
			return nil, fmt.Errorf("read registry: %w", err)
		}
		defer f.Close()
		body = f
	}
	b, err := io.ReadAll(io.LimitReader(body, max+1))
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("read registry from %s: %w", from, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("read registry from %s: more than the %d-byte cap", from, max)
	}
	return b, nil
}

func noDowngrade(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return errors.New("too many redirects")
	}
	if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
		return fmt.Errorf("refusing redirect from https to %s", req.URL.Redacted())
	}
	return nil
}

// install writes data to dir/CacheFile through a temporary file and a
// rename, so a reader sees the old file or the new one, never half of one.
func install(dir string, data []byte) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("store registry: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".iana-registry-*.tmp")
	if err != nil {
		return "", fmt.Errorf("store registry: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename this is a no-op
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return "", fmt.Errorf("store registry: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", fmt.Errorf("store registry: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("store registry: %w", err)
	}
	path := filepath.Join(dir, CacheFile)
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("store registry: %w", err)
	}
	return path, nil
}

// peekUpdated reads only the date of a stored registry, so start-up does not
// read and check a whole cached file that is older than the embedded one.
func peekUpdated(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var h [headerSize]byte
	if _, err := io.ReadFull(f, h[:]); err != nil || string(h[:len(magic)]) != magic {
		return "", fmt.Errorf("%s: %w: bad header", path, errFormat)
	}
	strOff := int64(binary.LittleEndian.Uint32(h[hdrStrOff:]))
	ref := int64(binary.LittleEndian.Uint32(h[hdrUpdated:]))
	var buf [16]byte
	n, err := f.ReadAt(buf[:], strOff+ref)
	if n == 0 {
		return "", fmt.Errorf("%s: %w: no date (%v)", path, errFormat, err)
	}
	l, w := binary.Uvarint(buf[:n])
	if w <= 0 || l > uint64(n-w) {
		return "", fmt.Errorf("%s: %w: bad date", path, errFormat)
	}
	return string(buf[w : w+int(l)]), nil
}
