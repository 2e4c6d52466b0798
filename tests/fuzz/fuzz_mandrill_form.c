/*
 * fuzz_mandrill_form.c - libFuzzer harness for the form decoder Mandrill's
 * adapter runs before it checks the signature (sender_form_parse, _sort,
 * _get), and for the base64 decoder behind Basic credentials and the
 * SendGrid and SES signatures (sender_base64_decode).
 *
 * The first byte picks the mode: even, the rest is a form body, decoded
 * and compared field by field with a plain reference decoder written here,
 * then sorted and checked for order and stability; odd, the rest goes
 * through base64 both ways and must survive a round trip.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "senders/common.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
hex_digit(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (unsigned char)(c | 0x20);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decodes in[0..len) into out; false on a broken escape. */
static bool
ref_decode(const uint8_t *in, size_t len, char *out, size_t *out_len)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (in[i] == '%') {
			if (len - i < 3 || hex_digit(in[i + 1]) < 0 ||
			    hex_digit(in[i + 2]) < 0)
				return false;
			out[o++] = (char)(hex_digit(in[i + 1]) * 16 +
					  hex_digit(in[i + 2]));
			i += 2;
		} else {
			out[o++] = in[i] == '+' ? ' ' : (char)in[i];
		}
	}
	*out_len = o;
	return true;
}

/* Compares one "name=value" segment with the field parsed from it. */
static bool
same_field(const uint8_t *seg, size_t len, const struct sender_form_field *f)
{
	const uint8_t *eq = memchr(seg, '=', len);
	size_t name_raw = eq != NULL ? (size_t)(eq - seg) : len;
	char *buf = xmalloc(len + 1);
	size_t n;
	bool same = false;

	if (!ref_decode(seg, name_raw, buf, &n) || n != f->name_len ||
	    memcmp(buf, f->name, n) != 0 || f->name[n] != '\0')
		goto out;
	n = 0;
	if (eq != NULL && !ref_decode(eq + 1, len - name_raw - 1, buf, &n))
		goto out;
	same = n == f->value_len && memcmp(buf, f->value, n) == 0 &&
	       f->value[n] == '\0';
out:
	free(buf);
	return same;
}

/* True when every non-empty segment decodes; counts them in *count. */
static bool
ref_valid(const uint8_t *data, size_t size, size_t *count)
{
	char *buf = xmalloc(size + 1);
	size_t start = 0, n;
	bool ok = true;

	*count = 0;
	while (ok && start < size) {
		const uint8_t *amp = memchr(data + start, '&', size - start);
		size_t end = amp != NULL ? (size_t)(amp - data) : size;

		if (end > start) {
			ok = ref_decode(data + start, end - start, buf, &n);
			(*count)++;
		}
		start = end + 1;
	}
	free(buf);
	return ok;
}

static void
check_form(const uint8_t *data, size_t size, const struct sender_form *form)
{
	size_t start = 0, i = 0;

	while (start < size) {
		const uint8_t *amp = memchr(data + start, '&', size - start);
		size_t end = amp != NULL ? (size_t)(amp - data) : size;

		if (end > start) {
			FUZZ_CHECK(i < form->count);
			FUZZ_CHECK(same_field(
			    data + start, end - start, &form->fields[i]));
			i++;
		}
		start = end + 1;
	}
	FUZZ_CHECK(i == form->count);
}

static void
check_sorted(struct sender_form *form)
{
	const struct sender_form_field *got;

	sender_form_sort(form);
	for (size_t i = 1; i < form->count; i++) {
		int c = strcmp(form->fields[i - 1].name, form->fields[i].name);

		FUZZ_CHECK(c < 0 || (c == 0 && form->fields[i - 1].position <
						   form->fields[i].position));
	}
	for (size_t i = 0; i < form->count; i++) {
		got = sender_form_get(form, form->fields[i].name);
		FUZZ_CHECK(got != NULL && got <= &form->fields[i]);
		FUZZ_CHECK(strcmp(got->name, form->fields[i].name) == 0);
	}
}

static void
fuzz_form(const uint8_t *data, size_t size)
{
	struct sender_form form;
	size_t count;
	bool valid = ref_valid(data, size, &count);
	bool ok = sender_form_parse((const char *)data, size, &form);

	FUZZ_CHECK(ok == valid);
	if (!ok) {
		FUZZ_CHECK(form.count == 0 && form.fields == NULL);
		return;
	}
	FUZZ_CHECK(form.count == count);
	check_form(data, size, &form);
	check_sorted(&form);
	sender_form_clear(&form);
	FUZZ_CHECK(form.count == 0 && form.fields == NULL);
}

static void
fuzz_base64(const uint8_t *data, size_t size)
{
	size_t raw_len = 0, again_len = 0;
	unsigned char *raw =
	    sender_base64_decode((const char *)data, size, &raw_len);
	char *text;
	unsigned char *again;

	if (raw != NULL) {
		text = sender_base64_encode(raw, raw_len);
		again = sender_base64_decode(text, strlen(text), &again_len);
		FUZZ_CHECK(again != NULL && again_len == raw_len);
		FUZZ_CHECK(raw_len == 0 || memcmp(again, raw, raw_len) == 0);
		free(again);
		free(text);
		free(raw);
	}
	if (size == 0)
		return; /* whether "" is base64 is the decoder's choice */
	text = sender_base64_encode(data, size);
	FUZZ_CHECK(strlen(text) == (size + 2) / 3 * 4);
	again = sender_base64_decode(text, strlen(text), &again_len);
	FUZZ_CHECK(again != NULL && again_len == size);
	FUZZ_CHECK(memcmp(again, data, size) == 0);
	free(again);
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] % 2 == 0)
		fuzz_form(data + 1, size - 1);
	else
		fuzz_base64(data + 1, size - 1);
	return 0;
}
