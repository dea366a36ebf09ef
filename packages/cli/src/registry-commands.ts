import type { Command } from 'commander';
import type { Output } from './output.js';

/** Registers the commands that talk to a registry: publish, dist-tag, deprecate, search, info. */
export function registerRegistryCommands(_program: Command, _out: Output): void {}
