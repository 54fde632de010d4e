/*
 * sound.h - prompts and other sound files, read as 8000 Hz 16-bit samples
 * whatever format and rate they are stored in.
 *
 * Prompts live in the sound folder (octo.conf [directories] sounds =, see
 * octo_paths.sound_dir), one folder per language:
 *
 *   <sound folder>/en/vm-intro.wav
 *   <sound folder>/en/digits/5.wav
 *   <sound folder>/it/digits/5.wav
 *   <sound folder>/moh/default/...      (music on hold: not a language)
 *
 * A prompt is named by its path in the language folder without the
 * extension ("digits/5", "vm-intro"); any registered sound format whose
 * extension matches can hold it (format_wav, format_raw ...). A prompt that
 * a language lacks is taken from the PBX's default language (octo.conf
 * [options] language =) and then from "en".
 *
 *   struct octo_sound *s;
 *   if (octo_sound_open("vm-intro", user_language, &s) == 0) {
 *       while ((n = octo_sound_read(s, buf, 160)) > 0)
 *           ... 20 ms of audio at 8 kHz ...
 *       octo_sound_close(s);
 *   }
 *
 * Thread context: any thread. An open sound is used by one thread at a time.
 * While it is open, the module of its format is referenced (holder "sound"),
 * so it cannot be unloaded under the reader.
 */
#ifndef OCTO_SOUND_H
#define OCTO_SOUND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "octo/octo.h"

/* Longest prompt name and language name accepted. */
#define OCTO_SOUND_NAME_MAX 200
#define OCTO_SOUND_LANG_MAX 32

struct octo_sound;

/* True when `name` is a valid prompt name: a relative path of 1 to
 * OCTO_SOUND_NAME_MAX characters made of parts separated by single '/',
 * each part made of letters, digits and "-_.+" and not starting with '.'
 * (so no "..", no hidden files, no absolute path). */
bool octo_sound_name_valid(const char *name);

/* True when `language` is a valid language folder name: 1 to
 * OCTO_SOUND_LANG_MAX - 1 letters, digits, '-' or '_' ("en", "pt_BR"). */
bool octo_sound_language_valid(const char *language);

/*
 * Finds the file of prompt `name` for `language` (NULL or "": the default
 * language): <sound folder>/<language>/<name>.<ext> for the extensions of
 * every registered format (formats by name, extensions in their order),
 * then the same in the default language and in "en". A name that ends in
 * one of those extensions ("vm-intro.wav") asks for that file only.
 * Writes the file's path into `path` and, when `lang_used` is not NULL, the
 * language it was found in (OCTO_SOUND_LANG_MAX bytes).
 * Returns 0, OCTO_EINVAL (invalid name or language, or no sound folder) or
 * OCTO_ENOTFOUND.
 */
int octo_sound_find(const char *name, const char *language, char *path, size_t size,
		    char *lang_used);

/*
 * Opens prompt `name` as octo_sound_find() finds it and returns a new open
 * sound in *out. Returns 0, OCTO_EINVAL (invalid name or language, or a file
 * its format cannot read: the reason is logged with the file's path),
 * OCTO_ENOTFOUND or OCTO_ENOMEM. Close with octo_sound_close().
 */
int octo_sound_open(const char *name, const char *language, struct octo_sound **out);

/*
 * Opens the sound file at `path`, choosing the format by its extension.
 * Returns 0 with a new open sound in *out, or an OCTO_E* with the reason in
 * `err` (not logged).
 */
int octo_sound_open_file(const char *path, struct octo_sound **out, char *err, size_t errsize);

/*
 * Reads up to `max` samples at 8000 Hz; returns how many (0 at the end of
 * the file) or a negative OCTO_E* on a read error. Files stored at 16000 Hz
 * are low-pass filtered (flat to 3 kHz, -12 dB at 4 kHz) and decimated.
 */
long octo_sound_read(struct octo_sound *s, int16_t *out, size_t max);

/* The file being read, the language it was found in ("" for
 * octo_sound_open_file) and its stored sample rate. Borrowed: valid until
 * octo_sound_close(). */
const char *octo_sound_path(const struct octo_sound *s);
const char *octo_sound_language(const struct octo_sound *s);
unsigned octo_sound_file_rate(const struct octo_sound *s);

/* Closes the file and releases its format. NULL is ignored. */
void octo_sound_close(struct octo_sound *s);

/* Core only (main.c): registers the "sound ..." CLI commands. */
int octo_sound_cli_init(void);

#endif
