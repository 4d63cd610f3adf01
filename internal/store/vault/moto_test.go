package vault

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/glacier"

	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/testutil/moto"
	"github.com/grsync/grsync/internal/treehash"
)

// TestMotoInterop runs the store against moto, a third-party emulator, to
// catch what the project's own emulator might share with this store's
// misreadings of the API. moto's Glacier is partial, so the test keeps to
// what it does right: single uploads under 1 MiB (for larger ones it
// returns a plain SHA-256 instead of the tree hash, and it has no
// multipart uploads), Expedited retrieval (ready after 2 s), reads (it
// ignores Range and reports no archive size, so the store streams the
// whole output), byte ranges of retrievals (it ignores them and reports
// none: the output is the whole archive) and the inventory (ready after
// 5 s). It has no vault tags
// (404 with an HTML page), so refs are store.ErrRefsUnsupported there.
func TestMotoInterop(t *testing.T) {
	t.Parallel() // mostly waits for moto's jobs
	m := moto.Start(t)
	ctx := t.Context()
	plain := glacier.New(glacier.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(m.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
	})
	if _, err := plain.CreateVault(ctx, &glacier.CreateVaultInput{AccountId: aws.String("-"), VaultName: aws.String("interop")}); err != nil {
		t.Fatal(err)
	}
	s, err := New(ctx, Config{Region: "us-east-1", Vault: "interop", EndpointURL: m.URL, MaxBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	// moto does not implement vault tags: refs are unsupported there, and
	// say so, rather than failing like a missing vault or a network error.
	if _, err := s.Refs(ctx); !errors.Is(err, store.ErrRefsUnsupported) {
		t.Errorf("Refs on moto: %v, want store.ErrRefsUnsupported", err)
	}
	if err := s.SetRef(ctx, "marker", "v"); !errors.Is(err, store.ErrRefsUnsupported) {
		t.Errorf("SetRef on moto: %v, want store.ErrRefsUnsupported", err)
	}
	if empty, err := s.Empty(ctx); err != nil || !empty {
		t.Errorf("Empty of a new vault on moto = %v, %v", empty, err)
	}

	datas := [][]byte{randomBytes(1000, 1), randomBytes(MiB-1, 2)}
	var archives []store.Archive
	for i, d := range datas {
		a, err := s.Put(ctx, bytes.NewReader(d), "interop "+string(rune('a'+i)))
		if err != nil {
			t.Fatalf("Put %d: %v", i, err)
		}
		if a.TreeHash != treehash.Sum(d).String() || a.Size != int64(len(d)) {
			t.Errorf("Put %d: %+v", i, a)
		}
		archives = append(archives, a)
	}

	// Over 1 MiB moto answers a single upload with a plain SHA-256, not the
	// tree hash: Put must notice, delete the archive again and fail.
	big, err := New(ctx, Config{Region: "us-east-1", Vault: "interop", EndpointURL: m.URL, PartSize: 2 * MiB})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := big.Put(ctx, bytes.NewReader(randomBytes(MiB+MiB/2, 3)), "mismatch"); err == nil ||
		!strings.Contains(err.Error(), "the service computed tree hash") || !strings.Contains(err.Error(), "deleted again") {
		t.Errorf("Put of 1.5 MiB to moto: error %v, want a tree hash mismatch, archive deleted", err)
	}
	big.Close()

	// Both jobs at once, so the test waits about 5 s, not 7.
	arch, err := s.Request(ctx, store.Retrieval{Kind: store.KindArchive, ArchiveID: archives[1].ID, Tier: store.TierExpedited})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := s.Request(ctx, store.Retrieval{Kind: store.KindInventory})
	if err != nil {
		t.Fatal(err)
	}
	// moto takes a RetrievalByteRange and ignores it: its job reports no
	// range and its output is the whole archive, which is what the store
	// then says (a range ending with the archive, as AWS would accept).
	ranged, err := s.Request(ctx, store.Retrieval{Kind: store.KindArchive, ArchiveID: archives[1].ID, Tier: store.TierExpedited,
		Offset: 0, Length: int64(len(datas[1]))})
	if err != nil {
		t.Fatal(err)
	}
	arch = pollMoto(t, s, arch)
	if ranged = pollMoto(t, s, ranged); ranged.Ranged() {
		t.Errorf("ranged job on moto: %+v, want a whole-archive retrieval", ranged)
	}
	if got := readAll(t, s, ranged, 0, -1); !bytes.Equal(got, datas[1]) {
		t.Error("read of the ranged job's output differs")
	}
	data := datas[1]
	if got := readAll(t, s, arch, 0, -1); !bytes.Equal(got, data) {
		t.Errorf("whole read: %d bytes differ from the %d put", len(got), len(data))
	}
	if got := readAll(t, s, arch, 12345, 1000); !bytes.Equal(got, data[12345:13345]) {
		t.Error("ranged read differs")
	}
	if got := readAll(t, s, arch, MiB-11, -1); !bytes.Equal(got, data[MiB-11:]) {
		t.Error("read to the end differs")
	}

	inv = pollMoto(t, s, inv)
	listed := map[string]store.Archive{}
	if _, err := s.Inventory(ctx, inv, func(a store.Archive) error { listed[a.ID] = a; return nil }); err != nil {
		t.Fatal(err)
	}
	for i, a := range archives {
		got := listed[a.ID]
		if got.Size != a.Size || got.Description != a.Description || got.TreeHash != a.TreeHash {
			t.Errorf("archive %d: inventory %+v, want %+v", i, got, a)
		}
	}
	if len(listed) != len(archives) {
		t.Errorf("inventory lists %d archives, want %d", len(listed), len(archives))
	}
	if err := s.Delete(ctx, archives[0].ID); err != nil {
		t.Errorf("Delete: %v", err)
	}
}

func pollMoto(t *testing.T, s *Store, r store.Retrieval) store.Retrieval {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !r.Ready {
		if time.Now().After(deadline) {
			t.Fatalf("moto job %s not ready after 15 s", r.JobID)
		}
		time.Sleep(250 * time.Millisecond)
		var err error
		if r, err = s.Poll(context.Background(), r); err != nil {
			t.Fatalf("Poll: %v", err)
		}
	}
	return r
}
