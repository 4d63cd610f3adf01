package glacieremu

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glacier"
)

func TestVaultLifecycle(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()

	out, err := e.client.CreateVault(ctx, &glacier.CreateVaultInput{VaultName: aws.String("photos")})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := aws.ToString(out.Location), "/123456789012/vaults/photos"; got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	// Creating it again succeeds: the operation is idempotent.
	e.createVault(t, "photos")

	d, err := e.client.DescribeVault(ctx, &glacier.DescribeVaultInput{VaultName: aws.String("photos")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(d.VaultARN) != "arn:aws:glacier:us-east-1:123456789012:vaults/photos" ||
		aws.ToString(d.VaultName) != "photos" || d.NumberOfArchives != 0 || d.LastInventoryDate != nil ||
		aws.ToString(d.CreationDate) != "2024-03-17T06:00:00.000Z" {
		t.Errorf("DescribeVault = %+v", d)
	}

	id := e.upload(t, "photos", "one", []byte("hello"))
	d, err = e.client.DescribeVault(ctx, &glacier.DescribeVaultInput{VaultName: aws.String("photos")})
	if err != nil {
		t.Fatal(err)
	}
	if d.NumberOfArchives != 1 || d.SizeInBytes != 5 {
		t.Errorf("after upload: %d archives, %d bytes", d.NumberOfArchives, d.SizeInBytes)
	}

	_, err = e.client.DeleteVault(ctx, &glacier.DeleteVaultInput{VaultName: aws.String("photos")})
	wantCode(t, err, CodeInvalidParameter) // not empty
	if _, err := e.client.DeleteArchive(ctx, &glacier.DeleteArchiveInput{VaultName: aws.String("photos"), ArchiveId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.DeleteVault(ctx, &glacier.DeleteVaultInput{VaultName: aws.String("photos")}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.DescribeVault(ctx, &glacier.DescribeVaultInput{VaultName: aws.String("photos")})
	wantCode(t, err, CodeResourceNotFound)
	_, err = e.client.DeleteVault(ctx, &glacier.DeleteVaultInput{VaultName: aws.String("photos")})
	wantCode(t, err, CodeResourceNotFound)
}

func TestVaultNames(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	for _, ok := range []string{"a", "A-b_c.d", strings.Repeat("v", 255)} {
		if _, err := e.client.CreateVault(ctx, &glacier.CreateVaultInput{VaultName: aws.String(ok)}); err != nil {
			t.Errorf("CreateVault(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{strings.Repeat("v", 256), "has space", "star*", "ünï"} {
		_, err := e.client.CreateVault(ctx, &glacier.CreateVaultInput{VaultName: aws.String(bad)})
		if code, status := apiCode(err); code != CodeInvalidParameter || status != http.StatusBadRequest {
			t.Errorf("CreateVault(%q) = %v, want %s (400)", bad, err, CodeInvalidParameter)
		}
	}
}

func TestListVaultsPages(t *testing.T) {
	e := newEnv(t, Config{})
	for i := range 5 {
		e.createVault(t, fmt.Sprintf("v%d", i))
	}
	var names []string
	p := glacier.NewListVaultsPaginator(e.client, &glacier.ListVaultsInput{Limit: aws.Int32(2)})
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, v := range out.VaultList {
			names = append(names, aws.ToString(v.VaultName))
		}
	}
	if got := strings.Join(names, ","); got != "v0,v1,v2,v3,v4" || pages != 3 {
		t.Errorf("listed %s in %d pages", got, pages)
	}
	_, err := e.client.ListVaults(context.Background(), &glacier.ListVaultsInput{Limit: aws.Int32(0)})
	wantCode(t, err, CodeInvalidParameter)
	_, err = e.client.ListVaults(context.Background(), &glacier.ListVaultsInput{Marker: aws.String("nonsense")})
	wantCode(t, err, CodeInvalidParameter)
}

func TestCommonRequestRules(t *testing.T) {
	e := newEnv(t, Config{})
	e.createVault(t, testVault)
	tests := []struct {
		name    string
		path    string
		headers map[string]string
		status  int
		code    string
	}{
		{"no Authorization", "/-/vaults/" + testVault, map[string]string{"Authorization": ""}, 400, CodeMissingAuth},
		{"not SigV4", "/-/vaults/" + testVault, map[string]string{"Authorization": "Basic dXNlcjpwdw=="}, 403, CodeInvalidSignature},
		{"no API version", "/-/vaults/" + testVault, map[string]string{"x-amz-glacier-version": ""}, 400, CodeMissingParameter},
		{"wrong API version", "/-/vaults/" + testVault, map[string]string{"x-amz-glacier-version": "2011-01-01"}, 400, CodeInvalidParameter},
		{"other account", "/999999999999/vaults/" + testVault, nil, 403, CodeAccessDenied},
		{"own account", "/123456789012/vaults/" + testVault, nil, 200, ""},
		{"unknown path", "/-/vaults/" + testVault + "/access-policy", nil, 404, CodeUnknownOperation},
		{"missing vault", "/-/vaults/nope", nil, 404, CodeResourceNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, code, h := e.raw(t, "GET", tt.path, tt.headers, nil)
			if status != tt.status || code != tt.code {
				t.Errorf("got %d %q, want %d %q", status, code, tt.status, tt.code)
			}
			if h.Get("x-amzn-RequestId") == "" {
				t.Error("no x-amzn-RequestId header")
			}
		})
	}
}
