package iampolicy

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// parsed is a policy as AWS would read it back from the JSON.
type parsed struct {
	Version   string
	Statement []struct {
		Sid       string
		Effect    string
		Principal json.RawMessage
		Action    []string
		Resource  []string
		Condition map[string]map[string]string
	}
}

func parse(t *testing.T, d Document) parsed {
	t.Helper()
	b := d.JSON()
	if !json.Valid(b) {
		t.Fatalf("invalid JSON:\n%s", b)
	}
	var p parsed
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("%v:\n%s", err, b)
	}
	if p.Version != "2012-10-17" || len(p.Statement) == 0 {
		t.Fatalf("version %q, %d statements", p.Version, len(p.Statement))
	}
	sids := map[string]bool{}
	for _, s := range p.Statement {
		if s.Effect != "Allow" && s.Effect != "Deny" || len(s.Action) == 0 || len(s.Resource) == 0 || s.Sid == "" || sids[s.Sid] {
			t.Errorf("statement %+v: want a unique Sid, Allow or Deny, actions and resources", s)
		}
		sids[s.Sid] = true
	}
	return p
}

// allowed maps each action an Allow statement grants to its resources.
func (p parsed) allowed() map[string][]string {
	m := map[string][]string{}
	for _, s := range p.Statement {
		if s.Effect == "Allow" {
			for _, a := range s.Action {
				m[a] = append(m[a], s.Resource...)
			}
		}
	}
	return m
}

func mustTarget(t *testing.T, loc string) Target {
	t.Helper()
	tg, err := ParseLocation(loc)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// TestS3PolicyNamesTheTarget checks the ARNs of an S3 policy: the bucket
// for bucket actions (listing only grsync's keys under the prefix), and
// exactly the prefix's grsync keys for object actions.
func TestS3PolicyNamesTheTarget(t *testing.T) {
	for _, c := range []struct {
		loc, region, bucket, objects, archives, listPrefix string
	}{
		{"s3:my-bucket/backups/laptop", "", "arn:aws:s3:::my-bucket", "arn:aws:s3:::my-bucket/backups/laptop/grsync*", "arn:aws:s3:::my-bucket/backups/laptop/grsync/*", "backups/laptop/grsync*"},
		{"s3:my-bucket", "eu-west-1", "arn:aws:s3:::my-bucket", "arn:aws:s3:::my-bucket/grsync*", "arn:aws:s3:::my-bucket/grsync/*", "grsync*"},
		{"s3:b/p", "cn-north-1", "arn:aws-cn:s3:::b", "arn:aws-cn:s3:::b/p/grsync*", "arn:aws-cn:s3:::b/p/grsync/*", "p/grsync*"},
	} {
		tg := mustTarget(t, c.loc)
		tg.Region = c.region
		d, err := Identity(tg, Options{})
		if err != nil {
			t.Fatal(err)
		}
		p := parse(t, d)
		for action, res := range p.allowed() {
			want := c.objects
			if slices.Contains([]string{"s3:ListBucket", "s3:ListBucketMultipartUploads"}, action) {
				want = c.bucket
			}
			if !slices.Equal(res, []string{want}) {
				t.Errorf("%s: %s on %v, want %s", c.loc, action, res, want)
			}
		}
		for _, s := range p.Statement {
			if slices.Contains(s.Action, "s3:ListBucket") && s.Condition["StringLike"]["s3:prefix"] != c.listPrefix {
				t.Errorf("%s: ListBucket condition %v, want s3:prefix %s", c.loc, s.Condition, c.listPrefix)
			}
			if s.Sid == "GrsyncNeverReplaceAnArchive" && (s.Effect != "Deny" || !slices.Equal(s.Resource, []string{c.archives}) ||
				s.Condition["Null"]["s3:if-none-match"] != "true" || s.Condition["Bool"]["s3:ObjectCreationOperation"] != "true") {
				t.Errorf("%s: overwrite guard %+v", c.loc, s)
			}
			if len(s.Principal) != 0 {
				t.Errorf("%s: an identity policy with a Principal: %s", c.loc, s.Principal)
			}
		}
	}
}

// TestAppendOnlyGrantsNoDelete checks the append-only variants: no
// s3:DeleteObject*, no s3:BypassGovernanceRetention (the only way to
// shorten a lock) anywhere in the text, no glacier:DeleteArchive
// allowed; while the full policies grant the deletes prune needs.
func TestAppendOnlyGrantsNoDelete(t *testing.T) {
	s3 := mustTarget(t, "s3:my-bucket/backups")
	vault := mustTarget(t, "glacier:eu-west-1:photos")
	for _, lock := range []bool{false, true} {
		o := Options{AppendOnly: true, ObjectLock: lock, LockDays: 210}
		d, err := Identity(s3, o)
		if err != nil {
			t.Fatal(err)
		}
		text := string(d.JSON())
		for _, forbidden := range []string{"s3:DeleteObject", "s3:Delete", "s3:BypassGovernanceRetention", "s3:PutBucket", "s3:PutLifecycle", "s3:*"} {
			if strings.Contains(text, forbidden) {
				t.Errorf("append-only (lock %v) contains %s:\n%s", lock, forbidden, text)
			}
		}
		p := parse(t, d)
		_, extends := p.allowed()["s3:PutObjectRetention"]
		if extends != lock {
			t.Errorf("append-only (lock %v): s3:PutObjectRetention allowed = %v; it is needed to lock and extend, and only then", lock, extends)
		}
		capped := false
		for _, s := range p.Statement {
			if s.Effect == "Deny" && slices.Contains(s.Action, "s3:PutObjectRetention") && s.Condition["NumericGreaterThan"]["s3:object-lock-remaining-retention-days"] == "211" {
				capped = true
			}
		}
		if capped != lock {
			t.Errorf("append-only (lock %v): retention capped at 211 days = %v", lock, capped)
		}

		full, err := Identity(s3, Options{ObjectLock: lock, LockDays: 210})
		if err != nil {
			t.Fatal(err)
		}
		got := parse(t, full).allowed()
		for _, a := range []string{"s3:DeleteObject", "s3:DeleteObjectVersion"} {
			if _, ok := got[a]; !ok {
				t.Errorf("full policy (lock %v) lacks %s, which prune needs", lock, a)
			}
		}
		if strings.Contains(string(full.JSON()), "BypassGovernanceRetention") {
			t.Errorf("full policy grants s3:BypassGovernanceRetention")
		}
	}
	for _, k := range []Kind{KindIAM, KindVaultAccess} {
		d, err := Policy(k, vault, Options{AppendOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := parse(t, d).allowed()["glacier:DeleteArchive"]; ok {
			t.Errorf("append-only %s policy allows glacier:DeleteArchive", k)
		}
		full, _ := Policy(k, vault, Options{})
		if _, ok := parse(t, full).allowed()["glacier:DeleteArchive"]; !ok {
			t.Errorf("full %s policy lacks glacier:DeleteArchive", k)
		}
	}
}

// TestFullPolicyIsTheTables checks that the full policies grant exactly
// the actions of the call tables, and that the tables name only real IAM
// action names of the service.
func TestFullPolicyIsTheTables(t *testing.T) {
	want := func(calls ...[]Call) []string {
		var out []string
		for _, cs := range calls {
			for _, c := range cs {
				out = append(out, c.Actions...)
			}
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	d, err := Identity(mustTarget(t, "s3:b/p"), Options{ObjectLock: true, LockDays: 60})
	if err != nil {
		t.Fatal(err)
	}
	if got, w := d.Allowed(), want(S3Calls, S3Fields); !slices.Equal(got, w) {
		t.Errorf("S3 full policy allows %v, the tables name %v", got, w)
	}
	d, err = Identity(mustTarget(t, "glacier:us-east-1:v"), Options{Account: "111122223333"})
	if err != nil {
		t.Fatal(err)
	}
	if got, w := d.Allowed(), want(VaultCalls); !slices.Equal(got, w) {
		t.Errorf("vault full policy allows %v, the tables name %v", got, w)
	}
	for _, a := range append(want(S3Calls, S3Fields), want(VaultCalls)...) {
		service, name, _ := strings.Cut(a, ":")
		if (service != "s3" && service != "glacier") || name == "" || strings.ContainsAny(name, "*?") {
			t.Errorf("table action %q is not a single action of s3 or glacier", a)
		}
	}
}

func TestVaultPolicies(t *testing.T) {
	v := mustTarget(t, "glacier:eu-west-1:photos")
	d, err := VaultLock(v, Options{Account: "111122223333"})
	if err != nil {
		t.Fatal(err)
	}
	p := parse(t, d)
	s := p.Statement[0]
	if len(p.Statement) != 1 || s.Effect != "Deny" || string(s.Principal) != `"*"` || !slices.Equal(s.Action, []string{"glacier:DeleteArchive"}) ||
		!slices.Equal(s.Resource, []string{"arn:aws:glacier:eu-west-1:111122223333:vaults/photos"}) ||
		s.Condition["NumericLessThan"]["glacier:ArchiveAgeInDays"] != "120" {
		t.Errorf("Vault Lock policy %+v: want a Deny of glacier:DeleteArchive to everyone for archives younger than 120 days", p.Statement)
	}
	if DefaultVaultLockDays() != 120 {
		t.Errorf("DefaultVaultLockDays = %d, want the vault's 90-day minimum + 30", DefaultVaultLockDays())
	}
	d, _ = VaultLock(v, Options{LockDays: 365})
	if got := parse(t, d).Statement[0]; got.Condition["NumericLessThan"]["glacier:ArchiveAgeInDays"] != "365" || !strings.Contains(got.Resource[0], AccountPlaceholder) {
		t.Errorf("Vault Lock for 365 days without an account: %+v", got)
	}

	d, err = VaultAccess(v, Options{Principal: "arn:aws:iam::111122223333:user/nightly", Account: "111122223333"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range parse(t, d).Statement {
		var principal map[string]string
		if err := json.Unmarshal(s.Principal, &principal); err != nil || len(principal) != 1 || principal["AWS"] != "arn:aws:iam::111122223333:user/nightly" {
			t.Errorf("vault access statement %s names principal %s", s.Sid, s.Principal)
		}
	}
	if _, err := VaultAccess(mustTarget(t, "s3:b"), Options{}); err == nil {
		t.Error("a vault access policy for a bucket")
	}
	if _, err := VaultLock(mustTarget(t, "s3:b"), Options{}); err == nil {
		t.Error("a Vault Lock policy for a bucket")
	}
}

func TestBadInput(t *testing.T) {
	for _, loc := range []string{"local:/tmp/x", "s3:", "s3:a b/p", "glacier:us-east-1", "ftp:x", "s3:b/p*"} {
		if _, err := ParseLocation(loc); err == nil {
			t.Errorf("ParseLocation(%q) accepted it", loc)
		}
	}
	s3 := mustTarget(t, "s3:b")
	for name, o := range map[string]Options{
		"lock without days": {ObjectLock: true},
		"bad account":       {Account: "12345"},
		"negative days":     {LockDays: -1},
	} {
		if _, err := Identity(s3, o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := Identity(mustTarget(t, "glacier:us-east-1:v"), Options{ObjectLock: true, LockDays: 10}); err == nil {
		t.Error("Object Lock on a vault: accepted")
	}
	if _, err := ParseKind("bucket"); err == nil {
		t.Error("ParseKind(bucket) accepted")
	}
}

func TestNotes(t *testing.T) {
	v := mustTarget(t, "glacier:eu-west-1:photos")
	has := func(notes []string, s string) bool {
		return slices.ContainsFunc(notes, func(n string) bool { return strings.Contains(n, s) })
	}
	n := Notes(KindIAM, v, Options{AppendOnly: true})
	if !has(n, AccountPlaceholder) || !has(n, "no glacier:DeleteArchive") || !has(n, "cannot stop") || !has(n, "vault-lock") {
		t.Errorf("vault append-only notes: %q", n)
	}
	if n := Notes(KindIAM, v, Options{Account: "111122223333"}); has(n, AccountPlaceholder) {
		t.Errorf("notes ask for the account that was given: %q", n)
	}
	if n := Notes(KindVaultLock, v, Options{}); !has(n, "complete-vault-lock") || !has(n, "120 days") {
		t.Errorf("Vault Lock notes: %q", n)
	}
	if n := Notes(KindVaultAccess, v, Options{}); !has(n, PrincipalPlaceholder) || !has(n, "set-vault-access-policy") {
		t.Errorf("vault access notes: %q", n)
	}
	s3 := mustTarget(t, "s3:b/p")
	n = Notes(KindIAM, s3, Options{AppendOnly: true, ObjectLock: true, LockDays: 210})
	if !has(n, "cannot shorten") || !has(n, "211 days") || !has(n, "Object Lock bucket") || !has(n, "run prune elsewhere") {
		t.Errorf("S3 append-only lock notes: %q", n)
	}
}
