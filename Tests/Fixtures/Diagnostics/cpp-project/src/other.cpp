int other() { return missing; }
