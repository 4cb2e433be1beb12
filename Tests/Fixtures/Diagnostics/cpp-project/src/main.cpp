#include "../include/util.h"

int other();

int main() { return twice(other()); }
