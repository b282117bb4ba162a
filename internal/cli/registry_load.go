package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/portwho/portwho/internal/registry"
	"github.com/portwho/portwho/internal/render"
)

// loadedRegistry is the Factory's memo of the registry in use.
type loadedRegistry struct {
	done bool
	reg  *registry.Registry
	err  error
}

// Registry returns the registry for this process, loaded once: the embedded
// snapshot, or the copy `portwho registry update` stored in the cache
// directory when that one is newer. A cached copy that fails validation is
// ignored with a warning on ErrOut; it is never fatal, so today the error is
// always nil and exists for callers that must not assume so.
func (f *Factory) Registry() (*registry.Registry, error) {
	m := &f.registry
	if m.done {
		return m.reg, m.err
	}
	m.done = true
	dir, err := f.CacheDir()
	if err != nil {
		// No cache directory: the embedded copy is all there is.
		dir = ""
	}
	reg, err := registry.Load(dir)
	if err != nil && f.IO != nil && f.IO.ErrOut != nil {
		fmt.Fprintf(f.IO.ErrOut, "portwho: warning: %s; using the embedded registry of %s (run portwho registry update)\n",
			render.Sanitize(oneLine(err.Error())), reg.Updated())
	}
	m.reg = reg
	return m.reg, m.err
}

// CacheDir is portwho's cache directory: $XDG_CACHE_HOME/portwho, or the
// OS's user cache directory (~/.cache/portwho on Linux). The environment is
// read through Getenv so tests can point it at a temporary directory.
func (f *Factory) CacheDir() (string, error) {
	getenv := f.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if x := getenv("XDG_CACHE_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "portwho"), nil
	}
	switch runtime.GOOS {
	case "windows", "darwin", "ios", "plan9":
		d, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("find cache directory: %w", err)
		}
		return filepath.Join(d, "portwho"), nil
	}
	if home := getenv("HOME"); home != "" && filepath.IsAbs(home) {
		return filepath.Join(home, ".cache", "portwho"), nil
	}
	return "", errors.New("find cache directory: neither $XDG_CACHE_HOME nor $HOME is set")
}
