// Package iampolicy writes the AWS policies that let grsync do its work
// and nothing more: the IAM (identity) policy for the user or role grsync
// runs as, on an S3 bucket and prefix or on a Glacier vault; for a vault
// also the matching vault access policy and a Vault Lock policy.
//
// The actions come from tables of the API operations the store packages
// call (actions.go), which a test checks against the store code itself.
// An append-only policy (Options.AppendOnly) grants no deletion at all:
// it is for the machine that runs the nightly sync, while prune runs
// elsewhere with the full policy. Notes says, for the user, what a policy
// can and cannot prevent.
package iampolicy

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/grsync/grsync/internal/cost"
)

// Placeholders left in a policy when the caller does not know the value.
const (
	AccountPlaceholder   = "ACCOUNT_ID"
	PrincipalPlaceholder = "arn:aws:iam::ACCOUNT_ID:user/BACKUP_USER"
)

// Document is an IAM policy document.
type Document struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one statement of a Document.
type Statement struct {
	Sid       string                       `json:"Sid"`
	Effect    string                       `json:"Effect"`
	Principal any                          `json:"Principal,omitempty"`
	Action    []string                     `json:"Action"`
	Resource  []string                     `json:"Resource"`
	Condition map[string]map[string]string `json:"Condition,omitempty"`
}

// JSON returns the document as indented JSON with a final newline, ready
// for aws iam put-user-policy --policy-document file://...
func (d Document) JSON() []byte {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		panic(err) // only strings, slices and maps of strings
	}
	return append(b, '\n')
}

// Allowed returns every action an Allow statement grants, sorted.
func (d Document) Allowed() []string {
	var out []string
	for _, s := range d.Statement {
		if s.Effect == "Allow" {
			out = append(out, s.Action...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Target is what a policy is for: an S3 bucket and prefix, or a vault.
type Target struct {
	Bucket string // S3
	Prefix string // S3: as grsync's keys start, "" or ending in "/"
	Vault  string // vault
	Region string // vault: required; S3: optional, picks the partition
}

// IsVault reports whether t is a Glacier vault.
func (t Target) IsVault() bool { return t.Vault != "" }

// ParseLocation reads a store location as the catalogue records it:
// "s3:BUCKET", "s3:BUCKET/PREFIX" or "glacier:REGION:VAULT". A local
// store has no AWS policy.
func ParseLocation(loc string) (Target, error) {
	switch {
	case strings.HasPrefix(loc, "s3:"):
		bucket, prefix, _ := strings.Cut(strings.TrimPrefix(loc, "s3:"), "/")
		if bucket == "" || strings.ContainsAny(bucket, ": ") {
			return Target{}, fmt.Errorf("invalid S3 location %q", loc)
		}
		prefix = strings.TrimLeft(prefix, "/")
		if prefix != "" && !strings.HasSuffix(prefix, "/") {
			prefix += "/"
		}
		if strings.ContainsAny(prefix, "*?\"") {
			return Target{}, fmt.Errorf("prefix %q holds a character IAM reads as a wildcard or quote", prefix)
		}
		return Target{Bucket: bucket, Prefix: prefix}, nil
	case strings.HasPrefix(loc, "glacier:"):
		region, vault, ok := strings.Cut(strings.TrimPrefix(loc, "glacier:"), ":")
		if !ok || region == "" || vault == "" {
			return Target{}, fmt.Errorf("invalid vault location %q", loc)
		}
		return Target{Vault: vault, Region: region}, nil
	case strings.HasPrefix(loc, "local:"):
		return Target{}, errors.New("a local directory store needs no AWS policy")
	}
	return Target{}, fmt.Errorf("unknown target %q", loc)
}

// Options shape a policy.
type Options struct {
	// AppendOnly leaves out every delete: s3:DeleteObject and
	// s3:DeleteObjectVersion, glacier:DeleteArchive.
	AppendOnly bool
	// ObjectLock adds what an Object Lock store needs (checking the bucket,
	// reading and setting retention) and caps the retention anyone with
	// the policy may set at LockDays + 1 days.
	ObjectLock bool
	// LockDays: with ObjectLock, the store's lock duration (see
	// s3store.DefaultLockDays); for VaultLock, the age in days below which
	// archives cannot be deleted (0: DefaultVaultLockDays).
	LockDays int
	// Account is the 12-digit AWS account id of a vault; "" leaves
	// AccountPlaceholder.
	Account string
	// Principal is the IAM user or role ARN a vault access policy names;
	// "" leaves PrincipalPlaceholder.
	Principal string
}

// DefaultVaultLockDays is the default age below which a Vault Lock policy
// denies deletion: a vault's minimum storage duration (90 days, from the
// price table) plus 30, as for S3 Object Lock (s3store.DefaultLockDays).
func DefaultVaultLockDays() int {
	minDays := 90
	if cp, err := cost.Default().Class(cost.Vault); err == nil {
		minDays = cp.MinDays
	}
	return max(minDays, 30) + 30
}

// partition is the ARN partition of region.
func partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

// BucketARN, ObjectsARN and VaultARN are the resources of t's policies.
func (t Target) BucketARN() string { return "arn:" + partition(t.Region) + ":s3:::" + t.Bucket }

// ObjectsARN covers every key grsync writes: PREFIX grsync/, grsync-uploads/
// and grsync-refs/.
func (t Target) ObjectsARN() string { return t.BucketARN() + "/" + t.Prefix + "grsync*" }

// ArchivesARN covers the archives alone: PREFIX grsync/.
func (t Target) ArchivesARN() string { return t.BucketARN() + "/" + t.Prefix + "grsync/*" }

// VaultARN is the vault's ARN, with AccountPlaceholder for an unknown account.
func (t Target) VaultARN(account string) string {
	if account == "" {
		account = AccountPlaceholder
	}
	return "arn:" + partition(t.Region) + ":glacier:" + t.Region + ":" + account + ":vaults/" + t.Vault
}

func (o Options) check(t Target) error {
	switch {
	case t.Bucket == "" && t.Vault == "":
		return errors.New("no target: name an S3 bucket or a vault")
	case t.IsVault() && t.Region == "":
		return errors.New("a vault's policy needs its region")
	case o.Account != "" && !isAccountID(o.Account):
		return fmt.Errorf("invalid AWS account id %q: want 12 digits", o.Account)
	case o.LockDays < 0:
		return fmt.Errorf("negative lock days %d", o.LockDays)
	case o.ObjectLock && t.IsVault():
		return errors.New("a vault has no Object Lock: use its Vault Lock policy")
	case o.ObjectLock && o.LockDays == 0:
		return errors.New("an Object Lock policy needs the lock duration in days")
	}
	return nil
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// actions returns the sorted actions of calls at scope that o allows.
func actions(calls []Call, scope Scope, o Options, wantDelete bool) []string {
	var out []string
	for _, c := range calls {
		if c.Scope != scope || (c.Use&UseDelete != 0) != wantDelete {
			continue
		}
		if c.Use == UseLock && !o.ObjectLock {
			continue
		}
		if wantDelete && o.AppendOnly {
			continue
		}
		out = append(out, c.Actions...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Identity returns the IAM policy for the user or role grsync runs as.
func Identity(t Target, o Options) (Document, error) {
	if err := o.check(t); err != nil {
		return Document{}, err
	}
	if t.IsVault() {
		return Document{Version: "2012-10-17", Statement: vaultStatements(t, o, nil)}, nil
	}
	calls := append(slices.Clone(S3Calls), S3Fields...)
	d := Document{Version: "2012-10-17"}
	add := func(s Statement) {
		if len(s.Action) > 0 {
			d.Statement = append(d.Statement, s)
		}
	}
	add(Statement{
		Sid: "GrsyncListItsOwnKeys", Effect: "Allow",
		Action:   actions(onlyAction(calls, "s3:ListBucket"), ScopeBucket, o, false),
		Resource: []string{t.BucketARN()},
		// grsync lists only under PREFIX grsync/ and grsync-refs/.
		Condition: map[string]map[string]string{"StringLike": {"s3:prefix": t.Prefix + "grsync*"}},
	})
	add(Statement{
		Sid: "GrsyncBucket", Effect: "Allow",
		Action:   actions(withoutAction(calls, "s3:ListBucket"), ScopeBucket, o, false),
		Resource: []string{t.BucketARN()},
	})
	add(Statement{Sid: "GrsyncObjects", Effect: "Allow", Action: actions(calls, ScopeObjects, o, false), Resource: []string{t.ObjectsARN()}})
	add(Statement{Sid: "GrsyncDelete", Effect: "Allow", Action: actions(calls, ScopeObjects, o, true), Resource: []string{t.ObjectsARN()}})
	// grsync writes every archive with If-None-Match: *; refuse any write
	// that could replace one (AWS's "enforce conditional writes" rule:
	// s3:ObjectCreationOperation exempts starting a multipart upload and
	// sending parts, which carry no condition).
	add(Statement{
		Sid: "GrsyncNeverReplaceAnArchive", Effect: "Deny",
		Action: []string{"s3:PutObject"}, Resource: []string{t.ArchivesARN()},
		Condition: map[string]map[string]string{
			"Null": {"s3:if-none-match": "true"},
			"Bool": {"s3:ObjectCreationOperation": "true"},
		},
	})
	if o.ObjectLock {
		// Nobody holding these credentials may lock anything for longer
		// than grsync does (a stolen key could otherwise lock every
		// object in COMPLIANCE mode for years, and the bill runs until
		// then). One day of slack for rounding.
		add(Statement{
			Sid: "GrsyncRetentionAtMostLockDays", Effect: "Deny",
			Action: []string{"s3:PutObject", "s3:PutObjectRetention"}, Resource: []string{t.ObjectsARN()},
			Condition: map[string]map[string]string{"NumericGreaterThan": {"s3:object-lock-remaining-retention-days": strconv.Itoa(o.LockDays + 1)}},
		})
	}
	return d, nil
}

// vaultStatements are the statements of a vault's identity or access
// policy (principal set for the latter).
func vaultStatements(t Target, o Options, principal any) []Statement {
	arn := []string{t.VaultARN(o.Account)}
	st := []Statement{{Sid: "GrsyncVault", Effect: "Allow", Principal: principal, Action: actions(VaultCalls, ScopeVault, o, false), Resource: arn}}
	if del := actions(VaultCalls, ScopeVault, o, true); len(del) > 0 {
		st = append(st, Statement{Sid: "GrsyncDelete", Effect: "Allow", Principal: principal, Action: del, Resource: arn})
	}
	return st
}

// VaultAccess returns the vault access policy (a resource policy on the
// vault) that grants o.Principal what Identity grants; with AppendOnly it
// also denies that principal glacier:DeleteArchive outright, which holds
// even if a wider IAM policy is attached to it later.
func VaultAccess(t Target, o Options) (Document, error) {
	if err := o.check(t); err != nil {
		return Document{}, err
	}
	if !t.IsVault() {
		return Document{}, errors.New("a vault access policy is for a Glacier vault; an S3 bucket takes the IAM policy")
	}
	p := o.Principal
	if p == "" {
		p = PrincipalPlaceholder
	}
	principal := map[string]string{"AWS": p}
	d := Document{Version: "2012-10-17", Statement: vaultStatements(t, o, principal)}
	if o.AppendOnly {
		d.Statement = append(d.Statement, Statement{
			Sid: "GrsyncAppendOnly", Effect: "Deny", Principal: principal,
			Action: []string{"glacier:DeleteArchive"}, Resource: []string{t.VaultARN(o.Account)},
		})
	}
	return d, nil
}

// VaultLock returns a Vault Lock policy that denies everyone
// glacier:DeleteArchive for archives younger than o.LockDays days
// (DefaultVaultLockDays when 0), AWS's own example of a retention rule.
func VaultLock(t Target, o Options) (Document, error) {
	o.AppendOnly, o.ObjectLock = false, false
	if err := o.check(t); err != nil {
		return Document{}, err
	}
	if !t.IsVault() {
		return Document{}, errors.New("Vault Lock is for a Glacier vault; an S3 bucket uses Object Lock (--object-lock)")
	}
	days := o.LockDays
	if days == 0 {
		days = DefaultVaultLockDays()
	}
	return Document{Version: "2012-10-17", Statement: []Statement{{
		Sid: "GrsyncDenyDeletingYoungArchives", Effect: "Deny", Principal: "*",
		Action: []string{"glacier:DeleteArchive"}, Resource: []string{t.VaultARN(o.Account)},
		Condition: map[string]map[string]string{"NumericLessThan": {"glacier:ArchiveAgeInDays": strconv.Itoa(days)}},
	}}}, nil
}

func onlyAction(calls []Call, action string) []Call {
	var out []Call
	for _, c := range calls {
		if slices.Contains(c.Actions, action) {
			out = append(out, c)
		}
	}
	return out
}

func withoutAction(calls []Call, action string) []Call {
	var out []Call
	for _, c := range calls {
		if !slices.Contains(c.Actions, action) {
			out = append(out, c)
		}
	}
	return out
}
