import type { Command } from 'commander';
import type { Output } from './output.js';

/** Registers the commands that edit a runtime's plugin list: install, uninstall, list, config. */
export function registerRuntimeCommands(_program: Command, _out: Output): void {}
