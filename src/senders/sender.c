/*
 * sender.c - the registry of mail-sender adapters (see
 * include/senders/sender.h): lookup by the {provider} path segment and
 * the result clean-up every caller uses.
 */
#include <stdlib.h>
#include <string.h>

#include "senders/adapters.h"
#include "senders/sender.h"

const struct sender *const sender_all[] = {
	&sendgrid_sender,
	&mailgun_sender,
	&postmark_sender,
	&ses_sender,
	&sparkpost_sender,
	&mandrill_sender,
	&brevo_sender,
	&mailjet_sender,
	NULL,
};

const struct sender *
sender_find(const char *name)
{
	if (name == NULL)
		return NULL;
	for (size_t i = 0; sender_all[i] != NULL; i++)
		if (strcmp(sender_all[i]->name, name) == 0)
			return sender_all[i];
	return NULL;
}

void
sender_result_clear(struct sender_result *out)
{
	if (out == NULL)
		return;
	event_batch_clear(&out->batch);
	free(out->subscribe_url);
	out->subscribe_url = NULL;
}
