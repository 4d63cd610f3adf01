package glacieremu

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/glacier"
)

func (e *env) tags(t *testing.T, vault string) map[string]string {
	t.Helper()
	out, err := e.client.ListTagsForVault(context.Background(), &glacier.ListTagsForVaultInput{VaultName: aws.String(vault)})
	if err != nil {
		t.Fatal(err)
	}
	if out.Tags == nil {
		return map[string]string{}
	}
	return out.Tags
}

func (e *env) addTags(vault string, tags map[string]string) error {
	_, err := e.client.AddTagsToVault(context.Background(), &glacier.AddTagsToVaultInput{VaultName: aws.String(vault), Tags: tags})
	return err
}

func TestVaultTags(t *testing.T) {
	e := newEnv(t, Config{})
	e.createVault(t, testVault)
	ctx := context.Background()
	if got := e.tags(t, testVault); len(got) != 0 {
		t.Fatalf("a new vault has tags %v", got)
	}
	want := map[string]string{"owner": "alice", "grsync-ref-marker": "grsync-store 1 id=ab key=none", "empty": "", "Ünïcode key": "value with spaces _./=+-@"}
	if err := e.addTags(testVault, want); err != nil {
		t.Fatal(err)
	}
	if got := e.tags(t, testVault); !maps.Equal(got, want) {
		t.Errorf("ListTagsForVault = %v, want %v", got, want)
	}
	// Adding an existing key replaces its value.
	if err := e.addTags(testVault, map[string]string{"owner": "bob"}); err != nil {
		t.Fatal(err)
	}
	want["owner"] = "bob"
	// Removing keys the vault does not have is not an error.
	if _, err := e.client.RemoveTagsFromVault(ctx, &glacier.RemoveTagsFromVaultInput{VaultName: aws.String(testVault), TagKeys: []string{"empty", "never-set"}}); err != nil {
		t.Fatal(err)
	}
	delete(want, "empty")
	if got := e.tags(t, testVault); !maps.Equal(got, want) {
		t.Errorf("after replace and remove: %v, want %v", got, want)
	}
	if got, _, _ := e.srv.Tags(testVault); !maps.Equal(got, want) {
		t.Errorf("Server.Tags = %v, want %v", got, want)
	}
}

func TestVaultTagLimits(t *testing.T) {
	e := newEnv(t, Config{})
	e.createVault(t, testVault)
	tags := map[string]string{}
	for i := range maxTags - 1 {
		tags[fmt.Sprintf("k%02d", i)] = "v"
	}
	if err := e.addTags(testVault, tags); err != nil {
		t.Fatal(err)
	}
	// Two new keys would make 51: refused, and nothing is added.
	wantCode(t, e.addTags(testVault, map[string]string{"fifty": "x", "fifty-one": "y"}), CodeLimitExceeded)
	if n := len(e.tags(t, testVault)); n != maxTags-1 {
		t.Errorf("%d tags after a refused add, want %d", n, maxTags-1)
	}
	// The 50th, and replacing a value at the limit, are fine.
	if err := e.addTags(testVault, map[string]string{"fifty": "x", "k00": "replaced"}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []map[string]string{
		{"": "v"},
		{"aws:reserved": "v"},
		{"AWS:Reserved": "v"},
		{strings.Repeat("k", maxTagKeyLen+1): "v"},
		{"k": strings.Repeat("v", maxTagValueLen+1)},
		{"colon:key": "v"},
		{"k": "semi;colon"},
		{"k": "bang!"},
	} {
		e2 := newEnv(t, Config{})
		e2.createVault(t, testVault)
		wantCode(t, e2.addTags(testVault, bad), CodeInvalidParameter)
		if n := len(e2.tags(t, testVault)); n != 0 {
			t.Errorf("%v: %d tags after a refused add", bad, n)
		}
	}
	// At the limits of length.
	if err := e.addTags(testVault, map[string]string{strings.Repeat("é", maxTagKeyLen): strings.Repeat("ü", maxTagValueLen)}); err == nil {
		t.Error("a 51st tag was accepted")
	}
	e3 := newEnv(t, Config{})
	e3.createVault(t, testVault)
	if err := e3.addTags(testVault, map[string]string{strings.Repeat("é", maxTagKeyLen): strings.Repeat("ü", maxTagValueLen)}); err != nil {
		t.Errorf("the longest key and value were refused: %v", err)
	}
}

func TestVaultTagErrors(t *testing.T) {
	e := newEnv(t, Config{})
	_, err := e.client.ListTagsForVault(context.Background(), &glacier.ListTagsForVaultInput{VaultName: aws.String("missing")})
	wantCode(t, err, CodeResourceNotFound)
	wantCode(t, e.addTags("missing", map[string]string{"k": "v"}), CodeResourceNotFound)
	e.createVault(t, testVault)
	for _, q := range []string{"", "?operation=list", "?operation="} {
		status, code, _ := e.raw(t, "POST", "/-/vaults/"+testVault+"/tags"+q, nil, []byte(`{"Tags":{"k":"v"}}`))
		if status != 400 || (code != CodeInvalidParameter && code != CodeMissingParameter) {
			t.Errorf("POST tags%s: %d %s, want 400 InvalidParameterValue or MissingParameterValue", q, status, code)
		}
	}
	status, code, _ := e.raw(t, "POST", "/-/vaults/"+testVault+"/tags?operation=add", nil, []byte(`{"Tags":{"k":"v"}} {}`))
	if status != 400 || code != CodeSerialization {
		t.Errorf("trailing JSON: %d %s, want 400 %s", status, code, CodeSerialization)
	}
}

// TestNoTags checks the moto-like answer of Config.NoTags: a 404 page that
// carries no AWS error code.
func TestNoTags(t *testing.T) {
	e := newEnv(t, Config{NoTags: true})
	e.createVault(t, testVault)
	bare404 := func(what string, err error) {
		t.Helper()
		var re *awshttp.ResponseError
		if code, _ := apiCode(err); !errors.As(err, &re) || re.HTTPStatusCode() != 404 || code != "" {
			t.Errorf("%s with NoTags: %v, want a 404 without an AWS error code", what, err)
		}
	}
	bare404("AddTagsToVault", e.addTags(testVault, map[string]string{"k": "v"}))
	_, err := e.client.ListTagsForVault(context.Background(), &glacier.ListTagsForVaultInput{VaultName: aws.String(testVault)})
	bare404("ListTagsForVault", err)
}
