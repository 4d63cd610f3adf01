package main

import (
	"github.com/spf13/cobra"
)

func (a *app) keyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Show what is derived from the key (for recovery without grsync)",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "export-age",
		Short: "Print the age identity derived from the key",
		Long: `Print the age X25519 identity (AGE-SECRET-KEY-1...) derived from the key given
by --encryption-key-file, --encryption-key or $GRSYNC_ENCRYPTION_KEY. With it, the
standard age tool decrypts grsync archives without grsync:

  grsync key export-age --encryption-key-file my.key > id.txt
  age -d -i id.txt ARCHIVE | zstd -d | tar xvf -

The identity is as secret as the key itself.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := a.loadKey()
			if err != nil {
				return err
			}
			if k == nil {
				return usagef("give --encryption-key-file FILE", "no key given")
			}
			a.printf("# grsync key fingerprint %s\n# public key: %s\n%s\n", k.Fingerprint(), k.AgeIdentity().Recipient().String(), k.AgeIdentityString())
			return nil
		},
	})
	return cmd
}
