package legacy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// The archives, key and inventory a user of the Python tools has, made by
// those tools' own libraries (testdata/python; see its README.md).

// fixtureRow is one row of the Python tools' glacier.db, with the SHA-256
// and size of the original file under source/.
type fixtureRow struct {
	Row         int    `json:"row"`
	ArchiveID   string `json:"archive_id"`
	Compression string `json:"compression"`
	Path        string `json:"path"` // relative to /home/alice/backup-src/
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
}

const fixtureRoot = "/home/alice/backup-src/"

func fixtureRows(t *testing.T) []fixtureRow {
	t.Helper()
	var rows []fixtureRow
	if err := json.Unmarshal(readTestdata(t, "python", "manifest.json"), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 {
		t.Fatalf("manifest has %d rows, want 5", len(rows))
	}
	return rows
}

func fixtureKey(t *testing.T) FernetKey {
	t.Helper()
	k, err := ParseFernetKey(readTestdata(t, "python", "legacy.key"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func archivePath(row fixtureRow) string {
	return filepath.Join("testdata", "python", "archives", row.ArchiveID)
}

// decodeDigest decodes an archive and returns its size and SHA-256.
func decodeDigest(compression string, open func() (io.ReadCloser, error), key *FernetKey) (int64, string, error) {
	r, err := Decode(compression, open, key)
	if err != nil {
		return 0, "", err
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, r)
	return n, hex.EncodeToString(h.Sum(nil)), err
}

func TestFixtureArchivesDecode(t *testing.T) {
	key := fixtureKey(t)
	seen := map[string]bool{}
	for _, row := range fixtureRows(t) {
		seen[row.Compression] = true
		if !IsLegacyCompression(row.Compression) {
			t.Errorf("row %d: IsLegacyCompression(%q) = false", row.Row, row.Compression)
		}
		n, sum, err := decodeDigest(row.Compression, fromFile(archivePath(row)), &key)
		if err != nil {
			t.Errorf("row %d (%s, %s): %v", row.Row, row.Compression, row.Path, err)
			continue
		}
		if n != row.Size || sum != row.SHA256 {
			t.Errorf("row %d (%s): decoded %d bytes, sha256 %s; want source/%s: %d bytes, %s",
				row.Row, row.Compression, n, sum, row.Path, row.Size, row.SHA256)
		}
	}
	for _, c := range []string{CompressionPlain, CompressionZstd, CompressionPlainZstd, CompressionEncrypted, CompressionEncryptedZstd} {
		if !seen[c] {
			t.Errorf("no fixture for compression %q", c)
		}
	}
}

func TestFixtureArchivesKeys(t *testing.T) {
	wrong := fixtureKey(t)
	wrong.Signing[5] ^= 0x10
	for _, row := range fixtureRows(t) {
		encrypted := row.Compression == CompressionEncrypted || row.Compression == CompressionEncryptedZstd
		_, _, err := decodeDigest(row.Compression, fromFile(archivePath(row)), nil)
		if encrypted && !errors.Is(err, ErrKeyRequired) {
			t.Errorf("row %d (%s) without key: %v, want ErrKeyRequired", row.Row, row.Compression, err)
		}
		if !encrypted && err != nil {
			t.Errorf("row %d (%s) without key: %v", row.Row, row.Compression, err)
		}
		if encrypted {
			_, _, err := decodeDigest(row.Compression, fromFile(archivePath(row)), &wrong)
			if !errors.Is(err, ErrInvalidToken) {
				t.Errorf("row %d (%s) with a wrong key: %v, want ErrInvalidToken", row.Row, row.Compression, err)
			}
		}
	}
}

func fixtureRowByCompression(t *testing.T, compression string) fixtureRow {
	t.Helper()
	for _, row := range fixtureRows(t) {
		if row.Compression == compression {
			return row
		}
	}
	t.Fatalf("no %s fixture", compression)
	return fixtureRow{}
}

// TestFixtureEncryptedTampered flips bits across the 4 MiB encrypted
// fixture's token; each is refused by OpenFernet, before any plaintext.
func TestFixtureEncryptedTampered(t *testing.T) {
	row := fixtureRowByCompression(t, CompressionEncrypted)
	key := fixtureKey(t)
	tok := readTestdata(t, "python", "archives", row.ArchiveID)
	positions := []int{0, 1, 2, 30, 33, 34, 35, 100, len(tok) / 2, len(tok) - 45, len(tok) - 44, len(tok) - 2, len(tok) - 1}
	for i, pos := range positions {
		bad := bytes.Clone(tok)
		bad[pos] ^= 1 << (i % 6)
		mustRefuse(t, fmt.Sprintf("bit %d of byte %d flipped", i%6, pos), bad, key)
	}
	mustRefuse(t, "truncated by one", tok[:len(tok)-1], key)
	mustRefuse(t, "truncated by 4", tok[:len(tok)-4], key)
	mustRefuse(t, "appended AAAA", append(bytes.Clone(tok), "AAAA"...), key)
}

// TestFixtureEncryptedZstdTampered flips one bit in each byte of the
// encrypted+zstd fixture's first and last 64 bytes (frame header, last
// block, checksum) and in every 13th byte between. Some flips leave the
// decompressed token unchanged (in the frame header's window field, say);
// all others must fail before any plaintext is released. No flip may ever
// yield different plaintext.
func TestFixtureEncryptedZstdTampered(t *testing.T) {
	row := fixtureRowByCompression(t, CompressionEncryptedZstd)
	key := fixtureKey(t)
	archive := readTestdata(t, "python", "archives", row.ArchiveID)
	refused, tried := 0, 0
	for i := range archive {
		if i >= 64 && i < len(archive)-64 && i%13 != 0 {
			continue
		}
		tried++
		bad := bytes.Clone(archive)
		bad[i] ^= 1 << (i % 8)
		r, err := Decode(CompressionEncryptedZstd, fromBytes(bad), &key)
		if err != nil {
			refused++
			continue
		}
		got, err := drain(r)
		r.Close()
		if err != nil {
			t.Fatalf("byte %d: error %v after %d bytes; want the error from Decode, before any plaintext", i, err, len(got))
		}
		sum := sha256.Sum256(got)
		if hex.EncodeToString(sum[:]) != row.SHA256 {
			t.Fatalf("byte %d flipped: decoded to different plaintext without an error", i)
		}
	}
	t.Logf("%d of %d flips refused; the rest decoded to the original", refused, tried)
	if refused < tried*9/10 {
		t.Errorf("only %d of %d flips refused", refused, tried)
	}

	// Tampering with the token inside an intact zstd frame.
	token := zstdDecompress(t, archive)
	for _, pos := range []int{0, 10, len(token) / 2, len(token) - 1} {
		bad := bytes.Clone(token)
		bad[pos] ^= 0x02
		if _, err := Decode(CompressionEncryptedZstd, fromBytes(zstdCompress(t, bad)), &key); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("token byte %d flipped inside a valid frame: %v, want ErrInvalidToken", pos, err)
		}
	}
}

// TestFixtureZstdTampered: the zstd fixture's frame has a checksum, so a
// flipped bit is an error, or changes nothing that is decoded.
func TestFixtureZstdTampered(t *testing.T) {
	row := fixtureRowByCompression(t, CompressionZstd)
	archive := readTestdata(t, "python", "archives", row.ArchiveID)
	for i := range archive {
		bad := bytes.Clone(archive)
		bad[i] ^= 1 << (i % 8)
		_, sum, err := decodeDigest(CompressionZstd, fromBytes(bad), nil)
		if err == nil && sum != row.SHA256 {
			t.Fatalf("byte %d flipped: decoded to different bytes without an error", i)
		}
	}
	for n := range len(archive) {
		if _, _, err := decodeDigest(CompressionZstd, fromBytes(archive[:n]), nil); err == nil {
			t.Fatalf("truncated to %d of %d bytes: no error", n, len(archive))
		}
	}
}

func zstdDecompress(t *testing.T, b []byte) []byte {
	t.Helper()
	d, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	out, err := d.DecodeAll(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func zstdCompress(t testing.TB, b []byte) []byte {
	t.Helper()
	e, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	return e.EncodeAll(b, nil)
}

// TestFixtureInventoryDescriptions parses every description in the vault
// inventory and checks it against the catalogue rows of the same archive.
func TestFixtureInventoryDescriptions(t *testing.T) {
	var inv struct {
		ArchiveList []struct {
			ArchiveID          string `json:"ArchiveId"`
			ArchiveDescription string
		}
	}
	if err := json.Unmarshal(readTestdata(t, "python", "inventory.json"), &inv); err != nil {
		t.Fatal(err)
	}
	rows := map[string]fixtureRow{}
	for _, row := range fixtureRows(t) {
		rows[row.ArchiveID] = row
	}
	// What the descriptions hold besides what the catalogue rows give.
	want := map[int]struct {
		mtime    float64
		userDesc string
		hasDesc  bool
	}{
		1: {1710590400.123456, "My description", true},
		2: {1710594000.123456, "", false},
		3: {1710597600.123456, "", false},
		4: {1710601200.123456, "nightly", true},
		5: {1710604800.123456, "", false},
	}
	if len(inv.ArchiveList) != len(want) {
		t.Fatalf("inventory has %d archives, want %d", len(inv.ArchiveList), len(want))
	}
	for _, a := range inv.ArchiveList {
		row, ok := rows[a.ArchiveID]
		if !ok {
			t.Fatalf("inventory archive %s is not in the catalogue", a.ArchiveID)
		}
		d, err := ParseDescription(a.ArchiveDescription)
		if err != nil {
			t.Errorf("row %d: %v", row.Row, err)
			continue
		}
		w := want[row.Row]
		if d.Path != fixtureRoot+row.Path || d.Size != row.Size || d.MTime != w.mtime ||
			d.UserDesc != w.userDesc || d.HasUserDesc != w.hasDesc || d.Ambiguous {
			t.Errorf("row %d: ParseDescription(%q) = %+v", row.Row, a.ArchiveDescription, d)
		}
	}
}
