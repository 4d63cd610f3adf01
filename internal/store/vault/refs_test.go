package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glacier"

	"github.com/grsync/grsync/internal/glacieremu"
	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/store/retry"
)

// TestRefsBesideUserTags checks that refs are the vault's "grsync-ref-"
// tags only, leave the user's tags alone, and that the vault's own limit
// of 50 tags (refs and the user's together) is a permanent error.
func TestRefsBesideUserTags(t *testing.T) {
	e := newEmu(t, glacieremu.Config{})
	user := map[string]string{}
	for i := range 46 {
		user[fmt.Sprintf("user-%02d", i)] = "mine"
	}
	user["grsync-ref-Not_A_Ref"] = "x" // a tag name no ref can have
	if _, err := e.client().AddTagsToVault(context.Background(), &glacier.AddTagsToVaultInput{
		AccountId: aws.String("-"), VaultName: aws.String(testVault), Tags: user,
	}); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, e, nil)
	ctx := t.Context()
	if refs, err := s.Refs(ctx); err != nil || len(refs) != 0 {
		t.Fatalf("Refs of a vault with only user tags = %v, %v; want none", refs, err)
	}
	for i := range 3 {
		if err := s.SetRef(ctx, fmt.Sprintf("r%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	err := s.SetRef(ctx, "r3", "v") // the vault's 50th tag is r2
	if err == nil || !store.IsPermanent(err) || !strings.Contains(err.Error(), "LimitExceeded") {
		t.Errorf("SetRef beyond the vault's 50 tags: %v, want a permanent LimitExceeded error", err)
	}
	if err := s.DeleteRef(ctx, "r0"); err != nil {
		t.Fatal(err)
	}
	tags, _, _ := e.srv.Tags(testVault)
	for k, v := range user {
		if tags[k] != v {
			t.Errorf("user tag %s = %q after ref changes, want %q", k, tags[k], v)
		}
	}
	if tags["grsync-ref-r1"] != "v" || tags["grsync-ref-r2"] != "v" || len(tags) != len(user)+2 {
		t.Errorf("vault tags = %v, want the user's and grsync-ref-r1, grsync-ref-r2", tags)
	}
}

// TestRefsUnsupported checks a service without vault tags (the emulator
// answering as moto does): all three ref methods report
// store.ErrRefsUnsupported, which is permanent, so the retry wrapper asks
// once.
func TestRefsUnsupported(t *testing.T) {
	e := newEmu(t, glacieremu.Config{NoTags: true})
	s := newStore(t, e, nil)
	var attempts int
	r := retry.New(s, retry.Policy{MaxAttempts: 5, Notify: func(string, int, error) { attempts++ }})
	ctx := t.Context()
	_, err := r.Refs(ctx)
	for what, err := range map[string]error{"Refs": err, "SetRef": r.SetRef(ctx, "marker", "v"), "DeleteRef": r.DeleteRef(ctx, "marker")} {
		if !errors.Is(err, store.ErrRefsUnsupported) || !store.IsPermanent(err) || !strings.Contains(err.Error(), s.Location()) {
			t.Errorf("%s on a service without vault tags: %v, want store.ErrRefsUnsupported naming the store", what, err)
		}
	}
	if attempts != 0 {
		t.Errorf("the retry wrapper retried %d times", attempts)
	}
	// A missing vault is not "unsupported": it stays not found.
	e2 := newEmu(t, glacieremu.Config{})
	s3 := newStore(t, e2, nil)
	if _, err := e2.client().DeleteVault(ctx, &glacier.DeleteVaultInput{AccountId: aws.String("-"), VaultName: aws.String(testVault)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s3.Refs(ctx); errors.Is(err, store.ErrRefsUnsupported) || !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Refs of a deleted vault: %v, want not found", err)
	}
}

func TestEmpty(t *testing.T) {
	e := newEmu(t, glacieremu.Config{})
	s := newStore(t, e, nil)
	ctx := t.Context()
	if empty, err := s.Empty(ctx); err != nil || !empty {
		t.Fatalf("Empty of a new vault = %v, %v", empty, err)
	}
	if err := s.SetRef(ctx, "marker", "v"); err != nil {
		t.Fatal(err)
	}
	if empty, err := s.Empty(ctx); err != nil || !empty {
		t.Errorf("Empty of a vault holding only a ref = %v, %v", empty, err)
	}
	if _, err := s.Put(ctx, bytes.NewReader([]byte("data")), "d"); err != nil {
		t.Fatal(err)
	}
	if empty, err := s.Empty(ctx); err != nil || empty {
		t.Errorf("Empty of a vault holding an archive = %v, %v", empty, err)
	}
	refs, err := s.Refs(ctx)
	if err != nil || !maps.Equal(refs, map[string]string{"marker": "v"}) {
		t.Errorf("Refs = %v, %v", refs, err)
	}
}
