package format

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// packEncodings are the option sets under their pack encoding names.
func packEncodingName(o optionSet) string { return PackEncoding(o.compress, o.encrypt) }

// overheadTable formats rows under a header of the four encodings.
func overheadTable(first string, rows [][]string) string {
	const w = 17
	header := fmt.Sprintf("| %-9s |", first)
	sep := "|-----------|"
	for _, o := range optionSets {
		header += fmt.Sprintf(" %-*s |", w, packEncodingName(o))
		sep += strings.Repeat("-", w+2) + "|"
	}
	lines := []string{header, sep}
	for _, r := range rows {
		line := fmt.Sprintf("| %-9s |", r[0])
		for _, c := range r[1:] {
			line += fmt.Sprintf(" %-*s |", w, c)
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}

// TestPackOverheadTable measures what a pack member adds to random content,
// and what the index costs per member, and checks that FORMAT.md 8.10
// shows exactly these figures. They do not depend on the random nonces.
func TestPackOverheadTable(t *testing.T) {
	k := testKey(t)
	path := testInfo(0).Path
	var rows [][]string
	for _, sz := range []struct {
		label string
		n     int
	}{{"0 B", 0}, {"1 KiB", 1 << 10}, {"16 KiB", 16 << 10}, {"1 MiB", 1 << 20}} {
		row := []string{sz.label}
		for _, o := range optionSets {
			_, idx, _ := buildPack(t, o.packOptions(k, testPackID), []testMember{fileMember(path, randomBytes(sz.n, 30))})
			stored := idx.Members[0].Length
			overhead := stored - int64(sz.n)
			// Bounds of 8.10 and section 6: tar adds 2,560 to 3,071
			// bytes, zstd little on random data, age 184 and 16 per chunk.
			if limit := int64(3072 + 200 + 16*(sz.n/(64<<10)+1) + sz.n/5000); overhead < 0 || overhead > limit {
				t.Errorf("%s of %s: %d bytes of overhead, more than %d", packEncodingName(o), sz.label, overhead, limit)
			}
			row = append(row, fmt.Sprintf("+%d (%d)", overhead, stored))
		}
		rows = append(rows, row)
	}
	members := overheadTable("content", rows)

	// The index of 1,000 small files with typical paths and 32-byte
	// hashes: its stored bytes per member, and the whole pack's overhead
	// per member (stored bytes minus content, over 1,000).
	var files []testMember
	content := 0
	for i := range 1000 {
		m := fileMember(fmt.Sprintf("/home/ann/projects/site/assets/img/photo-%04d.jpg", i), randomBytes(100+i, uint64(i)))
		files = append(files, m)
		content += len(m.content)
	}
	idxRow, packRow := []string{"index"}, []string{"pack"}
	for _, o := range optionSets {
		pack, idx, _ := buildPack(t, o.packOptions(k, testPackID), files)
		idxRow = append(idxRow, fmt.Sprint(idx.Length/1000))
		packRow = append(packRow, fmt.Sprint((int64(len(pack))-int64(content))/1000))
	}
	index := overheadTable("per file", [][]string{idxRow, packRow})

	t.Logf("member overhead, bytes added (stored length):\n%s\n\nindex and pack:\n%s", members, index)
	doc, err := os.ReadFile("../../docs/FORMAT.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{members, index} {
		if !strings.Contains(string(doc), table) {
			t.Errorf("docs/FORMAT.md section 8.10 does not show the measured table; update it to:\n%s", table)
		}
	}
}
