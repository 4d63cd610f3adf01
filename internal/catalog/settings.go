package catalog

import (
	"database/sql"
	"errors"
	"fmt"
)

// Setting returns the value stored under key.
func (c *Catalog) Setting(key string) (string, bool, error) {
	var v sql.NullString
	err := c.db.QueryRow("SELECT value FROM settings WHERE key = ?", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, wrap(c.path, "read setting "+key, err)
	}
	return v.String, true, nil
}

// SetSetting stores value under key, replacing any previous value.
func (c *Catalog) SetSetting(key, value string) error {
	if key == "" {
		return fmt.Errorf("set setting: empty key")
	}
	return c.update("set setting "+key, func(tx *sql.Tx) error {
		_, err := tx.Exec("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
			key, value)
		return err
	})
}
