package s3store

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/grsync/grsync/internal/store"
)

// TestNoNamesInKeysOrMetadata stores files whose names are in their (here
// unencrypted) descriptions, leaves an upload unfinished, then reads back
// the whole bucket listing, every object's metadata and every sidecar: no
// part of a file name may appear in the clear.
func TestNoNamesInKeysOrMetadata(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	motoURL := startMoto(t)
	cfg := testConfig(t, motoURL, "DEEP_ARCHIVE")
	s := mustNew(t, cfg)
	files := []string{"holiday-photos/2024/secret-plan.txt", "Tax Return 2023.pdf"}
	// Long enough that random ids never contain them by chance.
	fragments := []string{"holiday", "secret-plan", "Tax Return", "/home/alice", ".txt", ".pdf"}
	for i, name := range files {
		desc := "grsync|/home/alice/" + name + "|1700000000|12|None"
		mustPut(t, ctx, s, randomBytes(1000, uint64(i)), desc)
		mustPut(t, ctx, s, randomBytes(MinPartSize+10, uint64(i)), desc)
		leaveUpload(t, s, desc)
	}

	c := rawClient(motoURL)
	keys, uploads := bucketKeys(t, motoURL, cfg.Bucket)
	if len(keys) != 6 || len(uploads) != 2 {
		t.Fatalf("bucket holds %d objects and %d uploads, want 4 archives, 2 sidecars and 2 uploads", len(keys), len(uploads))
	}
	keyPattern := regexp.MustCompile(`^backups/grsync(-uploads)?/[A-Za-z0-9_-]{43}$`)
	leaks := func(where, s string) {
		for _, f := range fragments {
			if strings.Contains(s, f) {
				t.Errorf("%s %q contains %q from a file name", where, s, f)
			}
		}
	}
	for _, k := range append(keys, uploads...) {
		if !keyPattern.MatchString(k) {
			t.Errorf("key %q is not an opaque grsync key", k)
		}
		leaks("key", k)
	}
	for _, k := range keys {
		head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(k)})
		if err != nil {
			t.Fatal(err)
		}
		for mk, mv := range head.Metadata {
			if mk != descMetaKey {
				t.Errorf("object %s has metadata %s: %s beyond the description", k, mk, mv)
			}
			leaks("metadata value", mv)
		}
		if strings.Contains(k, uploadsDir) {
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(k)})
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(out.Body)
			out.Body.Close()
			leaks("upload sidecar", string(body))
		}
	}
	// The descriptions still come back whole.
	ups, err := s.ListUploads(ctx)
	if err != nil || len(ups) != 2 || !strings.Contains(ups[0].Description+ups[1].Description, files[0]) {
		t.Errorf("ListUploads = %+v, %v; want both uploads with their descriptions", ups, err)
	}
}

// TestInventoryIgnoresOtherObjects checks that an inventory lists only this
// prefix's archives, skipping objects that are not grsync archives.
func TestInventoryIgnoresOtherObjects(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	motoURL := startMoto(t)
	cfg := testConfig(t, motoURL, "STANDARD")
	s := mustNew(t, cfg)
	other := cfg
	other.Prefix = "elsewhere"
	o := mustNew(t, other)

	mine := map[string]string{}
	for _, d := range []string{"one description", "another  one"} {
		mine[mustPut(t, ctx, s, []byte(d), d).ID] = d
	}
	theirs := mustPut(t, ctx, o, []byte("theirs"), "theirs")
	c := rawClient(motoURL)
	for _, k := range []string{"backups/grsync/" + newID(), "backups/grsync/sub/dir", "backups/notes.txt", "backups/grsync-uploads/" + newID()} {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(k), Body: bytes.NewReader([]byte("x"))}); err != nil {
			t.Fatal(err)
		}
	}

	got := map[string]string{}
	r, err := s.Request(ctx, store.Retrieval{Kind: store.KindInventory})
	if err != nil || !r.Ready {
		t.Fatalf("Request inventory = %+v, %v; want ready at once", r, err)
	}
	if _, err := s.Inventory(ctx, r, func(a store.Archive) error { got[a.ID] = a.Description; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(mine) {
		t.Errorf("inventory = %q, want %q", got, mine)
	}
	for id, d := range mine {
		if got[id] != d {
			t.Errorf("inventory description of %s = %q, want %q", id, got[id], d)
		}
	}
	if err := s.Delete(ctx, theirs.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Delete of another prefix's archive: %v, want ErrNotFound", err)
	}
	if _, err := o.Request(ctx, store.Retrieval{Kind: store.KindArchive, ArchiveID: theirs.ID}); err != nil {
		t.Errorf("the other prefix's archive is gone: %v", err)
	}
}
