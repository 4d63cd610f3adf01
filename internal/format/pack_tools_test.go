package format

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/grsync/grsync/internal/testutil/tools"
)

// writeIdentity writes the test key's age identity file into dir.
func writeIdentity(t *testing.T, dir string) string {
	t.Helper()
	idFile := filepath.Join(dir, "id.txt")
	if err := os.WriteFile(idFile, []byte(testKey(t).AgeIdentityString()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return idFile
}

// run runs a shell command line in dir and returns its stdout; anything on
// stderr, or a failure, fails the test.
func run(t *testing.T, dir, shell, script string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(shell, append([]string{"-c", script, "sh"}, args...)...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("%s: %v\n%s", script, err, stderr.Bytes())
	}
	return stdout.Bytes()
}

// TestPackMemberWithStockAge: one member cut out of an encrypted pack with
// tail and head is a standard age file: stock age, and the age library,
// decrypt it, and zstd and GNU tar decode the rest without a word on
// stderr (no "Ignoring unknown extended header keyword", unlike v1).
func TestPackMemberWithStockAge(t *testing.T) {
	tools.Require(t, "age", "zstd", "tar", "bash", "tail", "head")
	k := testKey(t)
	dir := t.TempDir()
	idFile := writeIdentity(t, dir)
	members := []testMember{
		fileMember("/home/ann/notes.txt", []byte("notes")),
		fileMember("/data/bad\xff\xfename.bin", resumeContent(200<<10, 1)),
		chunkMember(randomBytes(70<<10, 2)),
	}
	for _, o := range optionSets {
		if !o.encrypt {
			continue
		}
		pack, idx, _ := buildPack(t, o.packOptions(k, testPackID), members)
		packFile := filepath.Join(dir, "pack-"+o.name)
		if err := os.WriteFile(packFile, pack, 0o600); err != nil {
			t.Fatal(err)
		}
		for i, e := range idx.Members {
			// tail dies of SIGPIPE when head has read enough.
			cut := fmt.Sprintf("{ tail -c +%d %s || :; } | head -c %d", e.Offset+1, packFile, e.Length)
			plain := run(t, dir, "bash", "set -o pipefail; "+cut+" | age -d -i "+idFile)

			// The age library agrees.
			ar, err := age.Decrypt(bytes.NewReader(pack[e.Offset:e.Offset+e.Length]), k.AgeIdentity())
			if err != nil {
				t.Fatalf("%s member %d: age library: %v", o.name, i, err)
			}
			lib, err := io.ReadAll(ar)
			if err != nil || !bytes.Equal(lib, plain) {
				t.Fatalf("%s member %d: age library and age -d differ (%v)", o.name, i, err)
			}

			out := filepath.Join(dir, fmt.Sprintf("out-%s-%d", o.name, i))
			if err := os.Mkdir(out, 0o700); err != nil {
				t.Fatal(err)
			}
			steps := cut + " | age -d -i " + idFile
			if o.compress {
				steps += " | zstd -d"
			}
			run(t, out, "bash", "set -o pipefail; "+steps+" | tar -x -f -")
			name := "chunk"
			if members[i].kind == KindFile {
				name = members[i].fi.Path[1:]
			}
			got, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(name)))
			if err != nil || !bytes.Equal(got, members[i].content) {
				t.Fatalf("%s member %d: tar extracted %d bytes, want %d (%v)", o.name, i, len(got), len(members[i].content), err)
			}
		}
	}
}

// recoveryScript returns the grsync-pack.sh script of FORMAT.md 8.11.
func recoveryScript(t *testing.T) string {
	t.Helper()
	return formatDocBlock(t, "<!-- grsync-pack.sh begin -->\n```sh\n", "```\n<!-- grsync-pack.sh end -->")
}

// TestPackRecoveryScript runs the script of FORMAT.md 8.11 with sh (dash
// on Debian, a POSIX shell): it must extract every file of a pack with its
// content, time and mode, write every chunk, and rebuild a file whose
// chunks are spread over two packs, for every encoding.
func TestPackRecoveryScript(t *testing.T) {
	tools.Require(t, "age", "zstd", "tar", "sh", "tail", "head", "sed")
	k := testKey(t)
	dir := t.TempDir()
	idFile := writeIdentity(t, dir)
	script := filepath.Join(dir, "grsync-pack.sh")
	if err := os.WriteFile(script, []byte(recoveryScript(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	// A file cut in five chunks: 0, 2 and 4 in pack A, 1 and 3 in pack B.
	whole := resumeContent(700<<10, 9)
	cuts := []int{0, 100 << 10, 101 << 10, 300 << 10, 650 << 10, len(whole)}
	files := []testMember{
		fileMember("/home/ann/notes.txt", []byte("notes")),
		fileMember("/home/ann/empty", nil),
		fileMember("/data/bad\xff\xfename.bin", randomBytes(3000, 1)),
		fileMember("/home/ann/"+strings.Repeat("deep/", 30)+"x \"quoted\" $name", []byte("deep")),
		fileMember("/srv/big.bin", resumeContent(smallFileMax+100<<10, 2)),
	}
	files[1].fi.Mode = 0o604
	files[1].fi.ModTime = time.Unix(1500000000, 0)
	for _, o := range optionSets {
		var a, b []testMember
		a = append(a, files[:3]...)
		b = append(b, files[3:]...)
		for i := range len(cuts) - 1 {
			c := chunkMember(whole[cuts[i]:cuts[i+1]])
			if i%2 == 0 {
				a = append(a, c)
			} else {
				b = append(b, c)
			}
		}
		packA, idxA, _ := buildPack(t, o.packOptions(k, testPackID), a)
		packB, idxB, _ := buildPack(t, o.packOptions(k, PackID{0xbb}), b)
		args := func(extra ...string) []string {
			if o.encrypt {
				return append(extra, idFile)
			}
			return extra
		}
		for name, p := range map[string][]byte{"A": packA, "B": packB} {
			if err := os.WriteFile(filepath.Join(dir, o.name+"."+name), p, 0o600); err != nil {
				t.Fatal(err)
			}
		}

		for name, c := range map[string]struct {
			members []testMember
			idx     *PackIndex
		}{"A": {a, idxA}, "B": {b, idxB}} {
			out := filepath.Join(dir, "out-"+o.name+"-"+name)
			if err := os.Mkdir(out, 0o700); err != nil {
				t.Fatal(err)
			}
			run(t, out, "sh", `sh "$@"`, args(script, "unpack", filepath.Join(dir, o.name+"."+name))...)
			for i, m := range c.members {
				path := filepath.Join(out, fmt.Sprintf("chunk.%d", i))
				if m.kind == KindFile {
					path = filepath.Join(out, filepath.FromSlash(m.fi.Path[1:]))
				}
				got, err := os.ReadFile(path)
				if err != nil || !bytes.Equal(got, m.content) {
					t.Fatalf("%s pack %s member %d: %d bytes, want %d (%v)", o.name, name, i, len(got), len(m.content), err)
				}
				if m.kind != KindFile {
					continue
				}
				st, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				if !st.ModTime().Equal(m.fi.ModTime) || st.Mode().Perm() != m.fi.Mode.Perm()&^currentUmask() {
					t.Errorf("%s %q: mtime %v mode %v, want %v %v", o.name, m.fi.Path, st.ModTime(), st.Mode(), m.fi.ModTime, m.fi.Mode)
				}
			}
		}

		var list strings.Builder
		for i := range len(cuts) - 1 {
			// Chunk i follows the files of its pack, after the chunks
			// before it in that pack.
			name, idx, first := "A", idxA, len(files[:3])
			if i%2 == 1 {
				name, idx, first = "B", idxB, len(files[3:])
			}
			e := idx.Members[first+i/2]
			fmt.Fprintf(&list, "%s %d %d\n", filepath.Join(dir, o.name+"."+name), e.Offset, e.Length)
		}
		listFile := filepath.Join(dir, "list-"+o.name)
		if err := os.WriteFile(listFile, []byte(list.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		got := run(t, dir, "sh", `f=$1; shift; sh "$@" < "$f"`, append([]string{listFile}, args(script, "join")...)...)
		if !bytes.Equal(got, whole) {
			t.Fatalf("%s: join rebuilt %d bytes, want the %d of the file", o.name, len(got), len(whole))
		}

		if !o.encrypt && o.compress {
			// 8.11: zstd -dc of an unencrypted pack, trailer included,
			// decodes every member; tar -i reads past each end marker.
			out := filepath.Join(dir, "zstd-dc")
			if err := os.Mkdir(out, 0o700); err != nil {
				t.Fatal(err)
			}
			run(t, out, "bash", `set -o pipefail; zstd -dc "$1" | tar -x -i -f -`, filepath.Join(dir, o.name+".A"))
			for _, m := range a[:3] {
				if got, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(m.fi.Path[1:]))); err != nil || !bytes.Equal(got, m.content) {
					t.Errorf("zstd -dc | tar -xi: %q: %v", m.fi.Path, err)
				}
			}
			if _, err := os.Stat(filepath.Join(out, indexName)); err != nil {
				t.Errorf("zstd -dc | tar -xi: no index: %v", err)
			}
		}
	}

	// A file that is not a pack is refused with a message.
	notPack := filepath.Join(dir, "not-a-pack")
	if err := os.WriteFile(notPack, bytes.Repeat([]byte("x"), 200), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", script, "unpack", notPack)
	cmd.Dir = dir
	if msg, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(msg), "not a grsync pack") {
		t.Errorf("unpack of a non-pack: %v %s", err, msg)
	}
}
