package iampolicy

import (
	"fmt"
	"strings"
)

// Kind names one of the policies of a target.
type Kind string

const (
	KindIAM         Kind = "iam"          // Identity
	KindVaultAccess Kind = "vault-access" // VaultAccess
	KindVaultLock   Kind = "vault-lock"   // VaultLock
)

// ParseKind reads a policy kind.
func ParseKind(s string) (Kind, error) {
	switch k := Kind(strings.ToLower(strings.TrimSpace(s))); k {
	case KindIAM, KindVaultAccess, KindVaultLock:
		return k, nil
	}
	return "", fmt.Errorf("unknown policy %q: use iam, vault-access or vault-lock", s)
}

// Policy returns the policy of kind for t.
func Policy(k Kind, t Target, o Options) (Document, error) {
	switch k {
	case KindVaultAccess:
		return VaultAccess(t, o)
	case KindVaultLock:
		return VaultLock(t, o)
	}
	return Identity(t, o)
}

// Notes says, in sentences for the user, what the policy of kind grants,
// how to apply it, what it cannot prevent, and which placeholders to
// replace.
func Notes(k Kind, t Target, o Options) []string {
	var n []string
	add := func(format string, args ...any) { n = append(n, fmt.Sprintf(format, args...)) }
	if t.IsVault() && o.Account == "" {
		add("replace %s with your 12-digit AWS account id (aws sts get-caller-identity --query Account --output text), or give --account", AccountPlaceholder)
	}
	switch k {
	case KindVaultLock:
		days := o.LockDays
		if days == 0 {
			days = DefaultVaultLockDays()
		}
		add("this Vault Lock policy denies everyone, the account's root user included, deleting an archive of vault %s younger than %d days (a vault bills 90 days of every archive anyway)", t.Vault, days)
		add("a completed Vault Lock can never be changed or removed: aws glacier initiate-vault-lock --account-id - --vault-name %s --policy '{\"Policy\": \"<this policy as one JSON string>\"}' returns a lock id; test for up to 24 hours (aws glacier abort-vault-lock to start over); then aws glacier complete-vault-lock --account-id - --vault-name %s --lock-id LOCK_ID", t.Vault, t.Vault)
		return n
	case KindVaultAccess:
		if o.Principal == "" {
			add("replace %s with the ARN of the user or role grsync runs as, or give --principal", PrincipalPlaceholder)
		}
		add("apply it with: aws glacier set-vault-access-policy --account-id - --vault-name %s --policy '{\"Policy\": \"<this policy as one JSON string>\"}'", t.Vault)
		if o.AppendOnly {
			add("its Deny keeps that principal from deleting archives even if a wider IAM policy is attached to it later")
		}
		return n
	}
	if t.IsVault() {
		add("IAM policy for vault %s in %s: attach it to the user or role grsync runs as (aws iam put-user-policy --user-name USER --policy-name grsync --policy-document file://policy.json)", t.Vault, t.Region)
	} else {
		loc := "s3:" + t.Bucket
		if t.Prefix != "" {
			loc += "/" + strings.TrimSuffix(t.Prefix, "/")
		}
		add("IAM policy for %s: grsync may list and write only its own keys (%sgrsync*); attach it to the user or role grsync runs as (aws iam put-user-policy --user-name USER --policy-name grsync --policy-document file://policy.json)",
			loc, t.Prefix)
		add("writes that could replace an archive are denied (grsync sends If-None-Match: * with every archive; the Deny uses S3's s3:if-none-match and s3:ObjectCreationOperation condition keys)")
	}
	if o.AppendOnly {
		if t.IsVault() {
			add("append-only: no glacier:DeleteArchive; archives stored with these credentials cannot be deleted with them")
		} else {
			add("append-only: no s3:DeleteObject, s3:DeleteObjectVersion or s3:BypassGovernanceRetention; archives stored with these credentials can be neither deleted nor replaced with them")
			add("append-only leaves the small records of finished multipart uploads (PREFIX grsync-uploads/, about 100 bytes each in STANDARD) in place")
		}
		add("run prune elsewhere, with the full policy (grsync iam-policy without --append-only); a sync under this policy finishes its other work and reports what it could not delete")
		add("append-only cannot stop a thief with these credentials from reading the (encrypted) archives, requesting billed retrievals, aborting uploads in progress or storing more data; nor anyone with wider credentials, or the account's root user, from deleting: for that, use %s",
			map[bool]string{true: "a Vault Lock (grsync iam-policy --policy vault-lock)", false: "an Object Lock bucket (--object-lock)"}[t.IsVault()])
	}
	if o.ObjectLock {
		add("Object Lock: s3:PutObjectRetention lets grsync lock new objects and extend the locks of live ones; it cannot shorten a lock (that needs s3:BypassGovernanceRetention in governance mode, which no grsync policy grants, and is impossible in compliance mode)")
		add("nobody holding this policy may lock an object for more than %d days (the Deny on s3:object-lock-remaining-retention-days, so a stolen key cannot lock everything for years); print and attach the policy again after raising --lock-days", o.LockDays+1)
	}
	return n
}
