package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// policyDoc is an IAM policy document as AWS reads it.
type policyDoc struct {
	Version   string
	Statement []struct {
		Sid       string
		Effect    string
		Principal any
		Action    []string
		Resource  []string
		Condition map[string]map[string]string
	}
}

func parsePolicy(t *testing.T, r result) policyDoc {
	t.Helper()
	var d policyDoc
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil || dec.More() {
		t.Fatalf("stdout is not one policy document (%v):\n%s", err, r)
	}
	return d
}

// TestIAMPolicyCommand checks what a user pastes into the AWS CLI: one
// valid JSON policy on stdout naming the bucket and prefix exactly (the
// notes go to stderr), without any delete or governance bypass when
// append-only; a vault's three policies; and usage errors for targets
// that take no policy.
func TestIAMPolicyCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	r := mustRun(t, dir, 0, "iam-policy", "--bucket", "my-backups", "--prefix", "/laptop/", "--append-only", "--object-lock", "compliance")
	d := parsePolicy(t, r)
	if strings.Contains(r.stdout, "s3:Delete") || strings.Contains(r.stdout, "BypassGovernanceRetention") {
		t.Errorf("append-only policy grants a delete or a bypass:\n%s", r.stdout)
	}
	resources := map[string]bool{}
	retention := false
	for _, s := range d.Statement {
		for _, res := range s.Resource {
			resources[res] = true
		}
		for _, a := range s.Action {
			retention = retention || (a == "s3:PutObjectRetention" && s.Effect == "Allow")
		}
	}
	for _, want := range []string{"arn:aws:s3:::my-backups", "arn:aws:s3:::my-backups/laptop/grsync*", "arn:aws:s3:::my-backups/laptop/grsync/*"} {
		if !resources[want] {
			t.Errorf("policy lacks resource %s; has %v", want, resources)
		}
	}
	if len(resources) != 3 {
		t.Errorf("policy names resources %v, want exactly the bucket, the prefix's grsync keys and its archives", resources)
	}
	if !retention {
		t.Error("an Object Lock policy without s3:PutObjectRetention: locks could not be extended")
	}
	if !strings.Contains(r.stderr, "211 days") || !strings.Contains(r.stderr, "run prune elsewhere") {
		t.Errorf("notes on stderr:\n%s", r.stderr)
	}

	full := mustRun(t, dir, 0, "iam-policy", "--bucket", "my-backups")
	if !strings.Contains(full.stdout, `"s3:DeleteObjectVersion"`) || strings.Contains(full.stdout, "PutObjectRetention") {
		t.Errorf("full policy without Object Lock: want deletes and no retention:\n%s", full.stdout)
	}

	for _, kind := range []string{"iam", "vault-access", "vault-lock"} {
		r := mustRun(t, dir, 0, "iam-policy", "--vault", "photos", "--region", "eu-west-1", "--account", "111122223333", "--policy", kind, "--append-only")
		d := parsePolicy(t, r)
		for _, s := range d.Statement {
			if len(s.Resource) != 1 || s.Resource[0] != "arn:aws:glacier:eu-west-1:111122223333:vaults/photos" {
				t.Errorf("%s: resource %v", kind, s.Resource)
			}
			if s.Effect == "Allow" && strings.Contains(strings.Join(s.Action, " "), "DeleteArchive") {
				t.Errorf("%s: append-only allows %v", kind, s.Action)
			}
		}
		if kind == "vault-lock" && (d.Statement[0].Effect != "Deny" || d.Statement[0].Condition["NumericLessThan"]["glacier:ArchiveAgeInDays"] != "120") {
			t.Errorf("vault-lock: %+v", d.Statement)
		}
	}

	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"iam-policy", "--local-store", dir}, "needs no AWS policy"},
		{[]string{"iam-policy"}, "no target"},
		{[]string{"iam-policy", "--bucket", "b", "--policy", "vault-lock"}, "Vault Lock is for a Glacier vault"},
		{[]string{"iam-policy", "--bucket", "b", "--object-lock", "forever"}, "unknown object lock mode"},
		{[]string{"iam-policy", "--bucket", "b", "--lock-days", "30"}, "without --object-lock"},
		{[]string{"iam-policy", "--vault", "v", "--region", "us-east-1", "--object-lock", "governance"}, "Vault Lock"},
	} {
		r := mustRun(t, dir, 2, c.args...)
		if r.stdout != "" || !strings.Contains(r.stderr, c.msg) {
			t.Errorf("grsync %s: want only an error about %q:\n%s", strings.Join(c.args, " "), c.msg, r)
		}
	}
}
