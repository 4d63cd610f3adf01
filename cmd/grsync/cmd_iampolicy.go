package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/grsync/grsync/internal/iampolicy"
	"github.com/grsync/grsync/internal/store"
	"github.com/grsync/grsync/internal/store/s3store"
)

type iamPolicyOptions struct {
	appendOnly         bool
	policy             string
	objectLock         string
	lockDays           int
	account, principal string
}

func (o *iamPolicyOptions) addFlags(f *pflag.FlagSet) {
	f.BoolVar(&o.appendOnly, "append-only", false, "no delete at all: for the machine that runs the nightly sync (prune runs elsewhere)")
	f.StringVar(&o.policy, "policy", "iam", "which policy: iam (for the user or role), vault-access or vault-lock (vaults)")
	f.StringVar(&o.objectLock, "object-lock", "", "the bucket's objects are locked (governance or compliance): add what that needs")
	f.IntVar(&o.lockDays, "lock-days", 0, "S3: the lock duration (default: the storage class's minimum + 30 days); vault-lock: the age below which archives cannot be deleted (default 120)")
	f.StringVar(&o.account, "account", "", "the vault's 12-digit AWS account id (default: a placeholder to replace)")
	f.StringVar(&o.principal, "principal", "", "vault-access: the ARN of the user or role grsync runs as (default: a placeholder)")
}

func (a *app) iamPolicyCommand() *cobra.Command {
	o := &iamPolicyOptions{}
	cmd := &cobra.Command{
		Use:   "iam-policy [--append-only] [--policy iam|vault-access|vault-lock]",
		Short: "Print the AWS policy that lets grsync use the target and nothing more",
		Long: `Print, as JSON on standard output, the policy that lets grsync work with the
target (--bucket and --prefix, --vault and --region, or the catalogue's target)
and do nothing else: exactly the actions sync, restore, verify and prune call, on
exactly that bucket and prefix or vault. Notes on standard error say how to apply
it and what it cannot prevent. Nothing is sent to AWS.

--append-only leaves out every delete, for the machine that runs the nightly
sync: its key, if stolen, cannot delete or replace what is stored. Run prune
elsewhere with the full policy. With --object-lock the policy adds what a locked
bucket needs (extending locks, never shortening them) and forbids locking
anything for longer than --lock-days. For a vault, --policy vault-access prints
the matching vault access policy and --policy vault-lock a Vault Lock policy
that denies deleting archives younger than --lock-days days.`,
		Example: `  grsync iam-policy --bucket my-backups --prefix laptop --append-only > nightly.json
  aws iam put-user-policy --user-name grsync-nightly --policy-name grsync --policy-document file://nightly.json
  grsync iam-policy --vault photos --region eu-west-1 --account 111122223333 --policy vault-lock`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.runIAMPolicy(o) },
	}
	o.addFlags(cmd.Flags())
	return cmd
}

func (a *app) runIAMPolicy(o *iamPolicyOptions) error {
	kind, err := iampolicy.ParseKind(o.policy)
	if err != nil {
		return usagef("use --policy iam, vault-access or vault-lock", "%v", err)
	}
	loc, err := a.g.targetLocation()
	if err != nil {
		return err
	}
	if loc == "" && fileExists(a.g.db) {
		cat, err := a.openCatalog(true)
		if err != nil {
			return err
		}
		loc, err = a.resolveTarget(cat)
		cat.Close()
		if err != nil {
			return err
		}
	}
	if loc == "" {
		return usagef("give --bucket NAME [--prefix P], or --vault NAME --region R", "no target to write a policy for")
	}
	target, err := iampolicy.ParseLocation(loc)
	if err != nil {
		return usagef("iam-policy is for --bucket or --vault targets", "%s: %v", loc, err)
	}
	if !target.IsVault() {
		target.Region = a.g.region
	}
	opt := iampolicy.Options{AppendOnly: o.appendOnly, Account: o.account, Principal: o.principal, LockDays: o.lockDays}
	if o.objectLock != "" {
		if _, err := store.ParseLockMode(o.objectLock); err != nil {
			return usagef("use --object-lock governance or --object-lock compliance", "%v", err)
		}
		opt.ObjectLock = true
		if opt.LockDays == 0 {
			opt.LockDays = s3store.DefaultLockDays(a.g.storageClass)
		}
	} else if o.lockDays != 0 && kind != iampolicy.KindVaultLock {
		return usagef("give --object-lock governance or compliance with --lock-days", "--lock-days %d without --object-lock", o.lockDays)
	}
	if o.lockDays < 0 || o.lockDays > s3store.MaxLockDays {
		return usagef(fmt.Sprintf("give --lock-days from 1 to %d", s3store.MaxLockDays), "--lock-days %d is out of range", o.lockDays)
	}
	doc, err := iampolicy.Policy(kind, target, opt)
	if err != nil {
		return usagef("see grsync iam-policy --help", "%s policy for %s: %v", kind, loc, err)
	}
	if _, err := a.stdout.Write(doc.JSON()); err != nil {
		return err
	}
	for _, n := range iampolicy.Notes(kind, target, opt) {
		fmt.Fprintf(a.stderr, "grsync: %s\n", n)
	}
	return nil
}
