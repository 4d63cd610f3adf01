package s3store

import (
	"encoding/base64"
	"errors"
	"strings"

	"github.com/grsync/grsync/internal/store"
)

// descMetaKey is the user metadata key (x-amz-meta-grsync-desc) holding
// the archive description as descInline followed by its standard base64.
const (
	descMetaKey = "grsync-desc"
	descInline  = "1:"
)

// descriptionMetadata is the user metadata of an object with description d.
// Base64 keeps leading and trailing spaces, which HTTP header values lose;
// the prefix keeps the value from being empty and says how it is encoded.
func descriptionMetadata(d string) map[string]string {
	return map[string]string{descMetaKey: descInline + base64.StdEncoding.EncodeToString([]byte(d))}
}

var errBadMetadata = errors.New("object metadata holds no valid grsync description")

// descriptionFrom returns the description recorded in an object's user
// metadata. S3 hands keys back in lower case; any case is accepted.
func descriptionFrom(meta map[string]string) (string, error) {
	for k, v := range meta {
		if !strings.EqualFold(k, descMetaKey) {
			continue
		}
		enc, ok := strings.CutPrefix(strings.TrimSpace(v), descInline)
		if !ok {
			return "", errBadMetadata
		}
		b, err := base64.StdEncoding.DecodeString(enc)
		if err != nil || !store.ValidDescription(string(b)) {
			return "", errBadMetadata
		}
		return string(b), nil
	}
	return "", errBadMetadata
}
