/* domusd.c - the host daemon (placeholder until the domain supervisor lands). */
#include <stdio.h>

int main(void)
{
	fprintf(stderr, "domusd: not implemented yet\n");
	return 1;
}
