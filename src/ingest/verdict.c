/*
 * verdict.c - event-local machine and scanner verdicts (see verdict.h).
 *
 * An open is a machine open when the sender says so, or when it carries
 * Apple's proxy traits: the bare user agent "Mozilla/5.0" from an address
 * in a configured proxy range.  A click (or an unsubscribe, which is a link
 * too) is a scanner's when the sender flags a bot or the user agent names a
 * known scanner.  Everything else is human until the store's timing rule
 * says otherwise.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "ingest/verdict.h"

/*
 * Reads an address into 16 bytes: IPv6 as is, IPv4 as the IPv4-mapped IPv6
 * address, so one comparison serves both families.
 */
static bool
parse_address(const char *text, unsigned char out[16], int *family_bits)
{
	struct in_addr v4;

	if (inet_pton(AF_INET, text, &v4) == 1) {
		memset(out, 0, 10);
		out[10] = 0xff;
		out[11] = 0xff;
		memcpy(out + 12, &v4, 4);
		*family_bits = 32;
		return true;
	}
	*family_bits = 128;
	return inet_pton(AF_INET6, text, out) == 1;
}

static bool
parse_cidr(const char *text, struct verdict_range *range)
{
	char addr[64];
	const char *slash = strchr(text, '/');
	size_t len = slash != NULL ? (size_t)(slash - text) : strlen(text);
	int family_bits;
	long bits;

	if (len == 0 || len >= sizeof(addr))
		return false;
	memcpy(addr, text, len);
	addr[len] = '\0';
	if (!parse_address(addr, range->prefix, &family_bits))
		return false;
	bits = family_bits;
	if (slash != NULL) {
		char *end;

		bits = strtol(slash + 1, &end, 10);
		if (*end != '\0' || end == slash + 1 || bits < 0 ||
		    bits > family_bits)
			return false;
	}
	range->bits = (int)bits + (128 - family_bits);
	return true;
}

static bool
in_range(const struct verdict_range *range, const unsigned char addr[16])
{
	int full = range->bits / 8, rest = range->bits % 8;

	if (memcmp(range->prefix, addr, (size_t)full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((range->prefix[full] ^ addr[full]) &
		   (unsigned char)(0xff << (8 - rest))) == 0;
}

/* Calls fn for each trimmed, non-empty item of a comma-separated list. */
static bool
each_item(const char *list, bool (*fn)(void *, const char *), void *arg)
{
	const char *p = list != NULL ? list : "";

	while (*p != '\0') {
		size_t len = strcspn(p, ",");
		size_t start = 0, end = len;
		char item[128];

		while (start < end && isspace((unsigned char)p[start]))
			start++;
		while (end > start && isspace((unsigned char)p[end - 1]))
			end--;
		if (end - start >= sizeof(item))
			return false;
		memcpy(item, p + start, end - start);
		item[end - start] = '\0';
		if (item[0] != '\0' && !fn(arg, item))
			return false;
		p += len;
		if (*p == ',')
			p++;
	}
	return true;
}

static bool
add_cidr(void *arg, const char *item)
{
	struct verdict_rules *rules = arg;

	if (rules->cidr_count == VERDICT_MAX_CIDRS)
		return false;
	if (!parse_cidr(item, &rules->ranges[rules->cidr_count]))
		return false;
	rules->cidr_count++;
	return true;
}

static bool
add_agent(void *arg, const char *item)
{
	struct verdict_rules *rules = arg;
	char *lower;

	if (rules->agent_count == VERDICT_MAX_AGENTS)
		return false;
	lower = xstrdup(item);
	for (char *c = lower; *c != '\0'; c++)
		*c = (char)tolower((unsigned char)*c);
	rules->scanner_agents[rules->agent_count++] = lower;
	return true;
}

bool
verdict_rules_init(struct verdict_rules *rules, const char *cidrs,
    const char *agents, int scanner_window_s, struct err *err)
{
	memset(rules, 0, sizeof(*rules));
	rules->scanner_window_s = scanner_window_s;
	if (!each_item(cidrs, add_cidr, rules)) {
		err_set(err, 500, "bad_config",
		    "[ingest] machine_open_cidrs: \"%s\" is not a list of at most %d address ranges",
		    cidrs, VERDICT_MAX_CIDRS);
		return false;
	}
	if (!each_item(agents, add_agent, rules)) {
		verdict_rules_free(rules);
		err_set(err, 500, "bad_config",
		    "[ingest] scanner_user_agents: at most %d fragments of under 128 bytes",
		    VERDICT_MAX_AGENTS);
		return false;
	}
	return true;
}

void
verdict_rules_free(struct verdict_rules *rules)
{
	for (int i = 0; i < rules->agent_count; i++)
		free(rules->scanner_agents[i]);
	rules->agent_count = 0;
}

static bool
ip_in_proxy_range(const struct verdict_rules *rules, const char *ip)
{
	unsigned char addr[16];
	int family_bits;

	if (ip == NULL || !parse_address(ip, addr, &family_bits))
		return false;
	for (int i = 0; i < rules->cidr_count; i++)
		if (in_range(&rules->ranges[i], addr))
			return true;
	return false;
}

static bool
agent_is_scanner(const struct verdict_rules *rules, const char *agent)
{
	char lower[512];
	size_t len;

	if (agent == NULL)
		return false;
	len = strlen(agent);
	if (len >= sizeof(lower))
		len = sizeof(lower) - 1;
	for (size_t i = 0; i < len; i++)
		lower[i] = (char)tolower((unsigned char)agent[i]);
	lower[len] = '\0';
	for (int i = 0; i < rules->agent_count; i++)
		if (strstr(lower, rules->scanner_agents[i]) != NULL)
			return true;
	return false;
}

void
verdict_decide(const struct verdict_rules *rules, struct event *ev)
{
	switch (ev->type) {
	case EVENT_OPEN:
		if ((ev->flags & EVENT_FLAG_SENDER_MACHINE) != 0 ||
		    (ev->user_agent != NULL &&
			strcmp(ev->user_agent, "Mozilla/5.0") == 0 &&
			ip_in_proxy_range(rules, ev->ip)))
			ev->verdict = VERDICT_MACHINE;
		else
			ev->verdict = VERDICT_HUMAN;
		break;
	case EVENT_CLICK:
	case EVENT_UNSUBSCRIBE:
		if ((ev->flags & EVENT_FLAG_SENDER_BOT) != 0 ||
		    agent_is_scanner(rules, ev->user_agent))
			ev->verdict = VERDICT_SCANNER;
		else
			ev->verdict = VERDICT_HUMAN;
		break;
	case EVENT_SENT:
	case EVENT_DELIVERED:
	case EVENT_BOUNCE:
	case EVENT_COMPLAINT:
	case EVENT_TYPE_COUNT:
		ev->verdict = VERDICT_NONE;
		break;
	}
}
