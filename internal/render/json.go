package render

import (
	"encoding/json"
	"io"
)

// JSON writes v as indented JSON followed by a newline. encoding/json escapes
// control characters, so untrusted text stays inert inside strings.
func JSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
